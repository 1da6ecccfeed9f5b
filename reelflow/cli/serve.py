"""`reelflow serve`: the HTTP API (reelflow.api) under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from reelflow.cli.common import err, one_line_errors, require_schema
from reelflow.core.errors import ConfigurationError

__all__ = ["register"]


def serve_command(
    host: Annotated[str | None, typer.Option(help="Address to bind (REELFLOW_API_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (REELFLOW_API_PORT)")] = None,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes (docs/operations.md)")] = 1,
    insecure_local: Annotated[
        bool,
        typer.Option(
            "--insecure-local",
            help="Run with no token configured: every call is let through. Local trials only;"
            " refused unless the address is a loopback one.",
        ),
    ] = False,
) -> None:
    """Serve the HTTP API: imports, their progress, media URLs, deletes (OpenAPI at /docs)."""
    import ipaddress

    import uvicorn

    from reelflow.api.access_log import LOG_CONFIG
    from reelflow.settings import get_settings

    settings = get_settings()
    bind = host or settings.api_host
    if not settings.api_token_list() and not insecure_local:
        raise ConfigurationError(
            "no API token is configured: set REELFLOW_API_TOKENS (e.g. read+write:<32 random "
            "characters>), or pass --insecure-local for a trial on this machine"
        )
    if insecure_local:
        try:
            loopback = ipaddress.ip_address(bind).is_loopback
        except ValueError:
            loopback = bind == "localhost"
        if not loopback:
            raise ConfigurationError(f"--insecure-local binds loopback addresses only, not {bind}")
        err.print("[yellow]insecure: every call is let through without a token[/]")
    require_schema(flows=False)
    uvicorn.run(
        "reelflow.api.main:insecure_app" if insecure_local else "reelflow.api.main:app",
        factory=True,
        host=bind,
        port=port or settings.api_port,
        workers=workers,
        access_log=True,
        log_config=LOG_CONFIG,  # the access log shows paths, never query strings
        proxy_headers=True,
        log_level="info",
    )


def register(app: typer.Typer) -> None:
    app.command("serve")(one_line_errors(serve_command))

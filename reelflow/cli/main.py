"""The `reelflow` command line. Errors become one clear line and an exit code: 1 when work
failed, 2 for bad input or configuration (reelflow.core.errors)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table

from reelflow.adapters.malloc import limit_arenas
from reelflow.cli import bench, cleanup, ops, serve, urls
from reelflow.cli.common import (
    err,
    flow_result,
    human,
    one_line_errors,
    out,
    print_rungs,
    progress_bar,
    quiet_throwaway_server,
    require_schema,
    throwaway_server_settings,
)
from reelflow.core.errors import ReelflowError, exit_code
from reelflow.core.manifest import load_manifest
from reelflow.core.reports import attention_first
from reelflow.settings import HEARTBEAT_ENV, get_settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
@one_line_errors
def db_upgrade() -> None:
    """Create or migrate the tables (idempotent)."""
    from reelflow.services import schema

    revision = schema.upgrade()
    url = get_settings().safe_summary()["database_url"]
    out.print(f"database at revision {revision}: {url}", highlight=False)


@app.command("config")
def show_config(
    markdown: Annotated[
        bool,
        typer.Option(
            "--markdown",
            help="Print every setting (variable, default, description) as README.md's table "
            "instead (`make docs` writes it into README.md)",
        ),
    ] = False,
) -> None:
    """Print the effective settings (secrets masked)."""
    if markdown:
        from reelflow.devtools.settings_doc import settings_table

        typer.echo(settings_table(), nl=False)
        return
    out.print_json(json.dumps(get_settings().safe_summary(), default=str))


def print_summary(report: Any) -> None:
    """An import's table: one line per asset, then the headline."""
    table = Table(title=f"movie {report.movie_id}", show_lines=False)
    for column in ("ep", "asset", "status", "before", "after"):
        table.add_column(column, no_wrap=True)
    table.add_column("key / error", overflow="fold")
    for line in sorted(report.lines, key=lambda line: attention_first(line.status)):
        before = human(line.source_bytes) if line.source_bytes else ""
        after = human(line.bytes) if line.bytes else ""
        style = {"abandoned": "bold red", "failed": "red", "skipped": "dim"}.get(line.status, "")
        table.add_row(
            str(line.episode),
            line.kind,
            f"[{style}]{line.status}[/]" if style else line.status,
            before,
            after,
            line.error or line.key or "",
        )
    out.print(table)
    print_rungs(report)
    out.print(report.headline(), highlight=False)


def run_import(manifest: Any, *, show_progress: bool = True) -> Any:
    """Run the import flow in this process with a progress bar; return (state, report).
    A run that did not produce a report (it crashed) raises its error as a ReelflowError."""
    from flows.import_episodes import import_episodes
    from reelflow.core.reports import TransferReport
    from reelflow.services.manifests import stash_manifest

    ref = stash_manifest(manifest)  # the run carries the reference, never the URLs
    with progress_bar(f"importing {manifest.movie_id}", disable=not show_progress):
        state = import_episodes(manifest_ref=ref, return_state=True)
    return state, flow_result(state, TransferReport, "import")


@app.command("import")
@one_line_errors
def import_command(
    manifest_path: Annotated[Path, typer.Argument(metavar="MANIFEST.json")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
    submit: Annotated[
        bool,
        typer.Option(
            "--submit",
            help="Queue the import for a Prefect worker and print the run id at once "
            "(the same manifest twice gives the same run)",
        ),
    ] = False,
) -> None:
    """Import a movie's episode previews from a manifest into S3."""
    manifest = load_manifest(manifest_path)
    if submit:
        ops.submit_import_command(manifest, as_json=as_json)
        return
    require_schema()
    _state, report = run_import(manifest, show_progress=not as_json)
    if as_json:
        out.print_json(report.model_dump_json())
    else:
        print_summary(report)
    raise typer.Exit(0 if report.ok else 1)


@app.command("demo")
@one_line_errors
def demo_command(
    episodes: Annotated[int, typer.Option(help="Episodes in the sample movie")] = 10,
) -> None:
    """Run the import on zero-config defaults against local S3 and a local origin."""
    # One screen: a progress bar and the table. Prefect's per-task INFO lines would scroll
    # it away (set PREFECT_LOGGING_LEVEL=INFO to see them); set before Prefect loads.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from reelflow.devtools import demo

    with demo.sandbox(episodes=episodes, console=out) as manifest:
        quiet_throwaway_server()
        _state, report = run_import(manifest, show_progress=True)
    print_summary(report)
    demo.renditions(out)
    demo.report(report.uploaded, out)
    raise typer.Exit(0 if report.ok else 1)


for module in (urls, cleanup, ops, bench, serve):
    module.register(app)


def main() -> None:
    """Console entry point: reelflow's own errors become one line on stderr and their exit
    code (1 work failed, 2 bad input or configuration), never a traceback."""
    try:
        throwaway_server_settings()  # before Prefect is imported: it reads them then
        settings = get_settings()
        limit_arenas(settings.malloc_arenas)  # before any thread allocates
        # flows run in this process send heartbeats at reelflow's pace (before Prefect loads)
        os.environ.setdefault(HEARTBEAT_ENV, str(settings.flow_heartbeat_seconds))
        app(standalone_mode=True)
    except ReelflowError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exit_code(exc))
    except ValidationError as exc:  # a setting with a bad value: its name and why, never its value
        for problem in exc.errors(include_input=False, include_url=False):
            name = ".".join(str(part) for part in problem["loc"]) or exc.title
            err.print(
                f"[bold red]error:[/] {name}: {problem['msg']}", highlight=False, soft_wrap=True
            )
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()

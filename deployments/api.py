"""Which Prefect API the ops commands talk to, and a clear error when there is none.

PREFECT_API_URL (from the environment or the active Prefect profile) wins. Without it, the
local stack's API is used when `reelflow up` has one running (so `reelflow import x --submit`
works straight after `make up`). Without either, the commands refuse: Prefect would otherwise
start a throwaway in-process server whose queue nobody serves.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL, temporary_settings

from deployments.local_stack import running_api_url
from reelflow.core.errors import PrefectUnavailable

__all__ = ["flow_run_url", "prefect_api", "ui_url"]


def _configured_url() -> str | None:
    value = PREFECT_API_URL.value()
    return str(value) if value else None


@contextmanager
def prefect_api(state_dir: Path | None = None, *, quiet: bool = False) -> Iterator[str]:
    """Yield the API URL to use, with Prefect's settings pointed at it for the block."""
    url = _configured_url()
    if url:
        yield url
        return
    url = running_api_url(state_dir)
    if not url:
        raise PrefectUnavailable(
            "PREFECT_API_URL is not set and no local stack is running: run `make up` "
            "(then export what it prints) or set PREFECT_API_URL to your Prefect server"
        )
    if not quiet:
        print(f"using the local stack's Prefect API at {url}", file=sys.stderr)
    with temporary_settings(updates={PREFECT_API_URL: url}):
        yield url


def ui_url() -> str:
    """The Prefect UI's base URL for the current settings."""
    value = PREFECT_UI_URL.value()
    if value:
        return str(value).rstrip("/")
    api = _configured_url() or ""
    return api.removesuffix("/").removesuffix("/api")


def flow_run_url(flow_run_id: object) -> str:
    return f"{ui_url()}/runs/flow-run/{flow_run_id}"

"""Flow run names that say what a run does, read from the run's own parameters when Prefect
creates it: `backfill-2026-12-02T03:00`, `sweep-my-bucket` (or `sweep-my-bucket-dry-run`),
`purge-movie-123`, `warmup-2026-12-02T03:20`, `verify-my-bucket` (or
`verify-movie-123-dry-run`). Imports name themselves `import-<movie>`
(flows/import_episodes.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from reelflow.core.keys import movie_of_key
from reelflow.settings import get_settings

__all__ = ["backfill_name", "purge_name", "sweep_name", "verify_name", "warmup_name"]


def _parameters() -> dict[str, Any]:
    from prefect.runtime import flow_run

    return dict(flow_run.parameters or {})


def _when() -> str:
    from prefect.runtime import flow_run

    moment = flow_run.scheduled_start_time or dt.datetime.now(dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M")


def backfill_name() -> str:
    params = _parameters()
    kind = "-renditions" if params.get("renditions") else ""
    suffix = "-dry-run" if params.get("dry_run") else ""
    return f"backfill{kind}-{_when()}{suffix}"


def sweep_name() -> str:
    suffix = "" if _parameters().get("execute") else "-dry-run"
    return f"sweep-{get_settings().s3_bucket_name}{suffix}"


def purge_name() -> str:
    keys = _parameters().get("keys")
    if not keys:
        return "purge-queue"
    movies = {movie_of_key(str(key)) for key in keys}
    if len(movies) == 1 and None not in movies:
        return f"purge-movie-{movies.pop()}"
    return f"purge-{len(keys)}-keys"


def warmup_name() -> str:
    return f"warmup-{_when()}"


def verify_name() -> str:
    params = _parameters()
    scope = (
        f"movie-{params['movie_id']}" if params.get("movie_id") else get_settings().s3_bucket_name
    )
    suffix = "" if params.get("execute") else "-dry-run"
    return f"verify-{scope}{suffix}"

"""What the API reads from Prefect (import runs, the queue) and the readiness checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx

from reelflow.api.problems import Problem
from reelflow.core.errors import PrefectUnavailable

__all__ = ["ImportRun", "Job", "import_run", "queue", "readiness"]


@dataclass(frozen=True)
class ImportRun:
    movie_id: str
    state: str | None
    state_type: str | None
    message: str


@dataclass(frozen=True)
class Job:
    id: str
    status: str  # queued | processing
    retries: int
    movie_id: str | None


def _movie(run: Any) -> str | None:
    for tag in run.tags or ():
        if tag.startswith("movie:"):
            return str(tag[len("movie:") :])
    return None


def import_run(run_id: UUID) -> ImportRun:
    """The import run `run_id`; a 404 problem when there is none (or it is not an import)."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    try:
        with get_client(sync_client=True) as client:
            run = client.read_flow_run(run_id)
    except ObjectNotFound:
        raise Problem(404, "not-found", f"no import run {run_id}") from None
    except httpx.TransportError as exc:
        raise PrefectUnavailable(f"the Prefect API does not answer: {exc}") from None
    movie_id = _movie(run)
    if movie_id is None or "import" not in (run.tags or ()):
        raise Problem(404, "not-found", f"run {run_id} is not an import")
    state = run.state
    return ImportRun(
        movie_id=movie_id,
        state=state.name if state else None,
        state_type=state.type.value if state else None,
        message=(state.message or "")[:500] if state else "",
    )


def queue(limit: int) -> list[Job]:
    """Import runs waiting (scheduled, pending) and running, oldest first."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    wanted = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING]
    try:
        with get_client(sync_client=True) as client:
            found = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=wanted)),
                    tags=FlowRunFilterTags(all_=["reelflow", "import"]),
                ),
                sort=FlowRunSort.EXPECTED_START_TIME_ASC,
                limit=limit,
            )
    except httpx.TransportError as exc:
        raise PrefectUnavailable(f"the Prefect API does not answer: {exc}") from None
    return [
        Job(
            id=str(run.id),
            status="processing" if run.state and run.state.is_running() else "queued",
            retries=max(0, int(run.run_count or 0) - 1),
            movie_id=_movie(run),
        )
        for run in found
    ]


def readiness() -> dict[str, str]:
    """ok / down per dependency; Redis `degraded` (or `off`) rather than down."""
    from sqlalchemy import text

    from reelflow.services import resources
    from reelflow.settings import get_settings

    settings = get_settings()
    checks: dict[str, str] = {}
    try:
        with resources.engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:
        checks["database"] = "down"
    try:
        resources.s3_client().head_bucket(Bucket=settings.s3_bucket_name)
        checks["s3"] = "ok"
    except Exception:
        checks["s3"] = "down"
    if not settings.use_redis:
        checks["redis"] = "off"
    else:
        try:
            from reelflow.adapters.redis_cache import make_client

            client = make_client(settings)
            try:
                client.ping()
            finally:
                client.close()
            checks["redis"] = "ok"
        except Exception:
            checks["redis"] = "degraded"
    return checks

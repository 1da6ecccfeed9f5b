"""Import runs as the entry points show them: a run's state from Prefect with its movie's asset
rows from the database, the queue of runs waiting and running, and a run's progress.

    import_run(run_id)             ImportRun (movie, state); RunNotFound if not an import run
    import_status(run_id, ...)     the run with a page of its movie's assets and their counts
    queue_status(limit)            import runs queued and processing, and every asset by status
    progress(run_id)               ({state, state_type, counts}, final?) for live streams

Prefect (~3 s to import) is imported by the functions that read it, on first use: the API
imports this module when it starts, and most of its calls never need Prefect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx

from reelflow.core.errors import PrefectUnavailable
from reelflow.services import catalog

__all__ = [
    "FINAL_TYPES",
    "ImportRun",
    "ImportPage",
    "Job",
    "Queue",
    "RunNotFound",
    "import_run",
    "import_status",
    "progress",
    "queue_status",
]

FINAL_TYPES = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})


class RunNotFound(LookupError):
    """No such flow run, or it is not an import (the API answers 404 `not-found`)."""


@dataclass(frozen=True)
class ImportRun:
    movie_id: str
    state: str | None
    state_type: str | None
    message: str


@dataclass(frozen=True)
class ImportPage:
    run: ImportRun
    assets: list[Any]  # rows: number, kind, status, attempts, last_error, updated_at
    counts: dict[str, int]


@dataclass(frozen=True)
class Job:
    id: str
    status: str  # queued | processing
    retries: int
    movie_id: str | None


@dataclass(frozen=True)
class Queue:
    jobs: list[Job]
    assets: dict[str, int]


def _movie(run: Any) -> str | None:
    for tag in run.tags or ():
        if tag.startswith("movie:"):
            return str(tag[len("movie:") :])
    return None


def import_run(run_id: UUID) -> ImportRun:
    """The import run `run_id`; RunNotFound when there is none (or it is not an import),
    PrefectUnavailable when the Prefect API does not answer."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    try:
        with get_client(sync_client=True) as client:
            run = client.read_flow_run(run_id)
    except ObjectNotFound:
        raise RunNotFound(f"no import run {run_id}") from None
    except httpx.TransportError as exc:
        raise PrefectUnavailable(f"the Prefect API does not answer: {exc}") from None
    movie_id = _movie(run)
    if movie_id is None or "import" not in (run.tags or ()):
        raise RunNotFound(f"run {run_id} is not an import")
    state = run.state
    return ImportRun(
        movie_id=movie_id,
        state=state.name if state else None,
        state_type=state.type.value if state else None,
        message=(state.message or "")[:500] if state else "",
    )


def import_status(run_id: UUID, *, limit: int, offset: int = 0) -> ImportPage:
    """The run, a page of its movie's asset rows (episode order) and the counts of them all."""
    run = import_run(run_id)
    rows, counts = catalog.movie_assets(run.movie_id, limit=limit, offset=offset)
    return ImportPage(run=run, assets=rows, counts=counts)


def _queue(limit: int) -> list[Job]:
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


def queue_status(limit: int) -> Queue:
    """Up to `limit` import runs queued and processing (Prefect), and every asset by status."""
    jobs = _queue(limit)
    return Queue(jobs=jobs, assets=catalog.asset_counts())


def progress(run_id: UUID) -> tuple[dict[str, Any], bool]:
    """The run's state and its movie's asset counts, and whether the run has ended."""
    run = import_run(run_id)
    _, counts = catalog.movie_assets(run.movie_id, limit=1)
    data = {"state": run.state, "state_type": run.state_type, "counts": counts}
    return data, (run.state_type or "") in FINAL_TYPES

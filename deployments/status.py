"""`reelflow status`: what waits, runs and failed in Prefect's queues, and how the assets stand.

Two sources, reported side by side:
- the Prefect API, for the reelflow work pool: per queue, runs queued (Scheduled and due, Late,
  Pending), upcoming (scheduled for later, e.g. the nightly sweep), running, and failed or
  crashed in the last `since_hours`; plus the most recent runs;
- our database: assets counted by status (abandoned first), and the assets that need an
  operator: abandoned ones (`reelflow retry` re-arms them), then the most recent failures.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowFilter,
    FlowFilterId,
    FlowRunFilter,
    FlowRunFilterEndTime,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterWorkQueueName,
    WorkPoolFilter,
    WorkPoolFilterName,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.exceptions import ObjectNotFound

from reelflow.adapters.db import catalog
from reelflow.core.errors import PrefectUnavailable
from reelflow.services import resources
from reelflow.settings import Settings

__all__ = ["asset_status", "collect_status", "prefect_status"]


async def prefect_status(
    pool: str, *, since_hours: float = 24.0, recent: int = 10
) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    since = now - dt.timedelta(hours=since_hours)
    in_pool = WorkPoolFilter(name=WorkPoolFilterName(any_=[pool]))

    def states(*types: StateType) -> FlowRunFilterState:
        return FlowRunFilterState(type=FlowRunFilterStateType(any_=list(types)))

    async with get_client() as client:
        error = await client.api_healthcheck()
        if error is not None:
            raise PrefectUnavailable(
                f"the Prefect API at {client.api_url} does not answer: {error}"
            )
        try:
            queues = await client.read_work_queues(work_pool_name=pool)
        except ObjectNotFound:
            return {
                "api_url": str(client.api_url),
                "pool": pool,
                "error": "no such work pool: run `reelflow deploy`",
                "queues": [],
                "recent_runs": [],
            }

        async def count(queue: str, **criteria: Any) -> int:
            return int(
                await client.count_flow_runs(
                    flow_run_filter=FlowRunFilter(
                        work_queue_name=FlowRunFilterWorkQueueName(any_=[queue]), **criteria
                    ),
                    work_pool_filter=in_pool,
                )
            )

        async def per_queue(queue: Any) -> dict[str, Any]:
            due, pending, upcoming, running, failed = await asyncio.gather(
                count(
                    queue.name,
                    state=states(StateType.SCHEDULED),
                    expected_start_time=FlowRunFilterExpectedStartTime.model_validate(
                        {"before_": now}
                    ),
                ),
                count(queue.name, state=states(StateType.PENDING)),
                count(
                    queue.name,
                    state=states(StateType.SCHEDULED),
                    expected_start_time=FlowRunFilterExpectedStartTime.model_validate(
                        {"after_": now}
                    ),
                ),
                count(queue.name, state=states(StateType.RUNNING, StateType.CANCELLING)),
                count(
                    queue.name,
                    state=states(StateType.FAILED, StateType.CRASHED),
                    end_time=FlowRunFilterEndTime.model_validate({"after_": since}),
                ),
            )
            return {
                "name": queue.name,
                "priority": queue.priority,
                "paused": bool(queue.is_paused),
                "queued": due + pending,
                "upcoming": upcoming,
                "running": running,
                "failed": failed,
            }

        rows = await asyncio.gather(*(per_queue(q) for q in queues))
        runs = await client.read_flow_runs(
            work_pool_filter=in_pool, sort=FlowRunSort.EXPECTED_START_TIME_DESC, limit=recent * 3
        )
        # Skip runs scheduled for later: "recent" means what happened or is happening.
        runs = [r for r in runs if r.expected_start_time is None or r.expected_start_time <= now]
        runs = runs[:recent]
        flow_names, deployment_names = await _names(client, runs)
        return {
            "api_url": str(client.api_url),
            "pool": pool,
            "failed_since": since.isoformat(),
            "queues": sorted(rows, key=lambda r: r["priority"]),
            "recent_runs": [_run(r, flow_names, deployment_names) for r in runs],
        }


async def _names(client: Any, runs: list[Any]) -> tuple[dict[Any, str], dict[Any, str]]:
    """The flow and deployment names of `runs` (two requests, whatever their number)."""
    flow_ids = list({r.flow_id for r in runs})
    deployment_ids = list({r.deployment_id for r in runs if r.deployment_id})
    flows = await client.read_flows(flow_filter=FlowFilter(id=FlowFilterId(any_=flow_ids)))
    deployments = (
        await client.read_deployments(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=deployment_ids))
        )
        if deployment_ids
        else []
    )
    return {f.id: f.name for f in flows}, {d.id: d.name for d in deployments}


def _run(run: Any, flow_names: dict[Any, str], deployment_names: dict[Any, str]) -> dict[str, Any]:
    state = run.state
    return {
        "id": str(run.id),
        "flow": flow_names.get(run.flow_id),
        "deployment": deployment_names.get(run.deployment_id),
        "name": run.name,
        "queue": run.work_queue_name,
        "state": state.name if state else None,
        "state_type": state.type.value if state else None,
        "message": (state.message or "")[:300] if state else "",
        "expected_start_time": _iso(run.expected_start_time),
        "start_time": _iso(run.start_time),
        "end_time": _iso(run.end_time),
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def asset_status(settings: Settings, *, failures: int = 10) -> dict[str, Any]:
    engine = resources.engine(settings)
    counts = catalog.asset_counts(engine)
    rows = catalog.recent_failures(engine, failures)
    return {
        "database": settings.safe_summary()["database_url"],
        "counts": counts,
        "total": sum(counts.values()),
        "recent_failures": [
            {
                "asset_id": r.id,
                "status": r.status,
                "movie_id": r.movie_id,
                "episode": r.number,
                "kind": r.kind,
                "attempts": r.attempts,
                "backfill_failures": r.backfill_failures,
                "last_error": r.last_error,
                "updated_at": _iso(r.updated_at),
            }
            for r in rows
        ],
    }


def collect_status(
    settings: Settings, *, since_hours: float = 24.0, failures: int = 10
) -> dict[str, Any]:
    """Both parts; a part that cannot be read carries an `error` instead of failing the rest."""
    result: dict[str, Any] = {}
    try:
        result["prefect"] = asyncio.run(prefect_status(settings.work_pool, since_hours=since_hours))
    except Exception as exc:  # reported, not raised: the DB half is still worth showing
        result["prefect"] = {"pool": settings.work_pool, "error": f"{type(exc).__name__}: {exc}"}
    try:
        result["assets"] = asset_status(settings, failures=failures)
    except Exception as exc:
        result["assets"] = {"error": f"{type(exc).__name__}: {exc}"}
    return result

"""`reelflow deploy`: make a Prefect server match prefect.yaml and the settings, idempotently.

What it manages, in this order:
1. the process work pool (settings.work_pool) and its queues with their priorities;
2. the global concurrency limits (see reelflow.adapters.slots);
3. the automation that marks a flow run Crashed when its heartbeats stop (zombie runs);
4. one deployment per prefect.yaml entry, with its schedules, its runs sending heartbeats
   every REELFLOW_FLOW_HEARTBEAT_SECONDS.

Every object is read first and written only when it differs from what is wanted, so a second
run changes nothing: same ids, no `updated` timestamps moved, scheduled runs left alone.
Prefect's own upsert (POST /deployments, what `prefect deploy` does) deletes and recreates all
schedules and the runs they scheduled on every deploy, so it is used only to create a
deployment; later changes go through PATCH, and schedules are synced one by one by slug:
changed ones updated, missing ones created, and ones no longer in the file deleted (plain
`prefect deploy` leaves a schedule removed from the file in place).
"""

from __future__ import annotations

import importlib
import shlex
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from prefect import Flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import (
    DeploymentScheduleCreate,
    DeploymentUpdate,
    GlobalConcurrencyLimitCreate,
    GlobalConcurrencyLimitUpdate,
    WorkPoolCreate,
)
from prefect.client.schemas.objects import ConcurrencyOptions, StateType
from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule
from prefect.events.actions import ChangeFlowRunState
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification
from prefect.exceptions import ObjectNotFound
from prefect.workers.process import ProcessWorker

from deployments.spec import DeploymentSpec, ProjectSpec, ScheduleSpec
from reelflow.adapters.slots import S3_LIMIT, origin_limit_name
from reelflow.core.errors import PrefectUnavailable, SpecError
from reelflow.settings import HEARTBEAT_ENV, Settings

__all__ = [
    "HEARTBEAT_ENV",
    "ZOMBIE_AUTOMATION",
    "Change",
    "DeployReport",
    "apply_project",
    "parse_origin_hosts",
    "zombie_automation",
]

ZOMBIE_AUTOMATION = "reelflow-crash-zombie-flow-runs"


@dataclass(frozen=True)
class Change:
    kind: str  # work-pool | work-queue | concurrency-limit | automation | deployment | schedule
    name: str
    action: str  # created | updated | deleted | unchanged | error
    detail: str = ""
    id: str = ""


@dataclass
class DeployReport:
    api_url: str
    changes: list[Change] = field(default_factory=list)

    def add(self, kind: str, name: str, action: str, detail: str = "", id: object = "") -> None:
        self.changes.append(Change(kind, name, action, detail, str(id or "")))

    @property
    def changed(self) -> list[Change]:
        return [c for c in self.changes if c.action not in ("unchanged", "error")]

    @property
    def errors(self) -> list[Change]:
        return [c for c in self.changes if c.action == "error"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "api_url": self.api_url,
            "changed": len(self.changed),
            "errors": len(self.errors),
            "changes": [c.__dict__ for c in self.changes],
        }


def parse_origin_hosts(values: list[str], default: int) -> dict[str, int | None]:
    """`host` or `host=N` options -> {host: N or None (None: create with default, never modify)}."""
    hosts: dict[str, int | None] = {}
    for value in values:
        host, _, limit = value.partition("=")
        host = host.strip().lower().rstrip(".")
        if not host or "/" in host or ":" in host.strip("[]"):
            raise SpecError(f"--origin-host wants a host name (no scheme, port or path): {value!r}")
        if limit:
            if not limit.isdigit() or int(limit) < 1:
                raise SpecError(f"--origin-host {value!r}: the limit must be a positive integer")
            hosts[host] = int(limit)
        else:
            hosts.setdefault(host, None)
    return hosts


async def apply_project(
    project: ProjectSpec,
    settings: Settings,
    *,
    root: Path,
    origin_hosts: dict[str, int | None] | None = None,
    only: set[str] | None = None,
) -> DeployReport:
    """Apply everything that loads. A deployment whose flow cannot be loaded (file missing,
    import error, parameters the flow does not take) is reported as an error and skipped;
    the rest is still applied."""
    wanted = [d for d in project.deployments if only is None or d.name in only]
    if only:
        missing = only - {d.name for d in project.deployments}
        if missing:
            raise SpecError(f"prefect.yaml has no deployment named {sorted(missing)}")
    flows: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for spec in wanted:
        try:
            flows[spec.name] = _load_flow(spec, root)
        except SpecError as exc:
            errors[spec.name] = str(exc)

    async with get_client() as client:
        error = await client.api_healthcheck()
        if error is not None:
            raise PrefectUnavailable(
                f"the Prefect API at {client.api_url} does not answer: {error}"
            )
        report = DeployReport(api_url=str(client.api_url))
        pools = {spec.work_pool for spec in wanted} or {settings.work_pool}
        for pool in sorted(pools):
            await _ensure_pool(client, pool, project, report)
        await _ensure_limits(client, settings, origin_hosts or {}, report)
        await _ensure_zombie_automation(client, settings, report)
        for spec in wanted:
            if spec.name in errors:
                report.add("deployment", spec.name, "error", errors[spec.name])
            else:
                await _ensure_deployment(client, spec, flows[spec.name], settings, report)
    return report


# --- flows -------------------------------------------------------------------------------


def _load_flow(spec: DeploymentSpec, root: Path) -> Any:
    if not spec.file(root).is_file():
        raise SpecError(
            f"deployment {spec.name!r}: entrypoint file {spec.file(root)} does not exist"
        )
    try:
        module = importlib.import_module(spec.module)
    except Exception as exc:
        raise SpecError(
            f"deployment {spec.name!r}: cannot import {spec.module}: {type(exc).__name__}: {exc}"
        ) from exc
    flow = getattr(module, spec.function, None)
    if not isinstance(flow, Flow):
        raise SpecError(f"deployment {spec.name!r}: {spec.entrypoint} is not a Prefect flow")
    properties = set((flow.parameters.model_dump().get("properties") or {}).keys())
    for where, params in [("parameters", spec.parameters)] + [
        (f"schedule {s.slug} parameters", s.parameters) for s in spec.schedules
    ]:
        unknown = set(params) - properties
        if unknown:
            raise SpecError(
                f"deployment {spec.name!r}: {where} {sorted(unknown)} are not parameters of "
                f"flow {flow.name!r} (it takes {sorted(properties)})"
            )
    # Runs a schedule creates get exactly these parameters: they must be complete and valid.
    for schedule in spec.schedules:
        try:
            flow.validate_parameters({**spec.parameters, **schedule.parameters})
        except Exception as exc:
            raise SpecError(
                f"deployment {spec.name!r}: schedule {schedule.slug} would start runs with "
                f"invalid parameters: {exc}"
            ) from None
    return flow


# --- work pool and queues ----------------------------------------------------------------


async def _ensure_pool(client: Any, name: str, project: ProjectSpec, report: DeployReport) -> None:
    try:
        pool = await client.read_work_pool(name)
    except ObjectNotFound:
        pool = await client.create_work_pool(
            WorkPoolCreate(
                name=name,
                type="process",
                description="reelflow: imports, backfills and cleanups (process workers)",
                base_job_template=ProcessWorker.get_default_base_job_template(),
            )
        )
        report.add("work-pool", name, "created", "type process", pool.id)
    else:
        if pool.type != "process":
            raise SpecError(
                f"work pool {name!r} exists with type {pool.type!r}; reelflow needs a "
                "'process' pool (choose another REELFLOW_WORK_POOL or delete that pool)"
            )
        report.add("work-pool", name, "unchanged", "type process", pool.id)

    for queue in project.queues:  # ascending priority: bumping only moves queues not yet seen
        existing = {q.name: q for q in await client.read_work_queues(work_pool_name=name)}
        current = existing.get(queue.name)
        label = f"{name}/{queue.name}"
        if current is None:
            created = await client.create_work_queue(
                name=queue.name,
                work_pool_name=name,
                priority=queue.priority,
                description=queue.description,
            )
            report.add("work-queue", label, "created", f"priority {queue.priority}", created.id)
            continue
        updates: dict[str, Any] = {}
        if current.priority != queue.priority:
            updates["priority"] = queue.priority
        if (current.description or "") != queue.description:
            updates["description"] = queue.description
        if updates:
            await client.update_work_queue(current.id, **updates)
            report.add("work-queue", label, "updated", _describe(updates), current.id)
        else:
            report.add("work-queue", label, "unchanged", f"priority {queue.priority}", current.id)


# --- zombie runs --------------------------------------------------------------------------


def zombie_automation(settings: Settings) -> AutomationCore:
    """Prefect's recipe for zombie flow runs: a run that sent a heartbeat and then neither
    another heartbeat nor a final state within `zombie_after_seconds` had its process die
    (SIGKILL, OOM, a lost machine); mark it Crashed instead of leaving it Running forever."""
    final = ("Completed", "Failed", "Cancelled", "Crashed")
    return AutomationCore(
        name=ZOMBIE_AUTOMATION,
        description=(
            "reelflow: a running flow run with no heartbeat for "
            f"{settings.zombie_after_seconds}s is marked Crashed (created by reelflow deploy)"
        ),
        enabled=True,
        trigger=EventTrigger(
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", *(f"prefect.flow-run.{s}" for s in final)},
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=settings.zombie_after_seconds),
        ),
        actions=[
            ChangeFlowRunState(
                name=None,
                force=False,
                state=StateType.CRASHED,
                message=(
                    f"no heartbeat for {settings.zombie_after_seconds}s: the process running "
                    "this flow run died"
                ),
            )
        ],
    )


async def _ensure_zombie_automation(client: Any, settings: Settings, report: DeployReport) -> None:
    wanted = zombie_automation(settings)
    existing = await client.read_automations_by_name(ZOMBIE_AUTOMATION)
    detail = f"Crashed after {settings.zombie_after_seconds}s without a heartbeat"
    if not existing:
        created = await client.create_automation(wanted)
        report.add("automation", ZOMBIE_AUTOMATION, "created", detail, created)
        return
    current, *extra = existing
    for duplicate in extra:  # two deploys racing once created two: keep one
        await client.delete_automation(duplicate.id)
    if extra or _automation_fields(current) != _automation_fields(wanted):
        await client.update_automation(current.id, wanted)
        report.add("automation", ZOMBIE_AUTOMATION, "updated", detail, current.id)
    else:
        report.add("automation", ZOMBIE_AUTOMATION, "unchanged", detail, current.id)


def _automation_fields(automation: AutomationCore) -> dict[str, Any]:
    """What a deploy sets, comparable between the server's copy and ours (a trigger's id
    is generated per instance, sets have no order)."""
    data = automation.model_dump(
        mode="json", include={"description", "enabled", "trigger", "actions"}
    )
    trigger = data["trigger"]
    trigger.pop("id", None)
    for name in ("after", "expect", "for_each"):  # sets: their JSON order is arbitrary
        trigger[name] = sorted(trigger.get(name) or [])
    return data


# --- global concurrency limits -----------------------------------------------------------


async def _ensure_limits(
    client: Any, settings: Settings, hosts: dict[str, int | None], report: DeployReport
) -> None:
    """reelflow-s3 follows settings; a host named with =N is held at N; a bare host is
    created with the default and otherwise left alone (operators may tune it in the UI)."""
    wanted: list[tuple[str, int, bool]] = [(S3_LIMIT, settings.s3_request_limit, True)]
    for host, limit in sorted(hosts.items()):
        wanted.append(
            (origin_limit_name(host), limit or settings.origin_host_limit, limit is not None)
        )
    for name, limit, enforce in wanted:
        await _ensure_limit(client, name, limit, enforce, report)


async def _ensure_limit(
    client: Any, name: str, limit: int, enforce: bool, report: DeployReport
) -> None:
    try:
        current = await client.read_global_concurrency_limit_by_name(name)
    except ObjectNotFound:
        created = await client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=name, limit=limit)
        )
        report.add("concurrency-limit", name, "created", f"limit {limit}", created)
        return
    if enforce and current.limit != limit:
        await client.update_global_concurrency_limit(
            name, GlobalConcurrencyLimitUpdate(limit=limit)
        )
        report.add(
            "concurrency-limit", name, "updated", f"limit {current.limit} -> {limit}", current.id
        )
    else:
        report.add("concurrency-limit", name, "unchanged", f"limit {current.limit}", current.id)


# --- deployments and schedules -----------------------------------------------------------


def _prefect_schedule(spec: ScheduleSpec) -> Any:
    if spec.cron is not None:
        return CronSchedule(cron=spec.cron, timezone=spec.timezone or "UTC", day_or=spec.day_or)
    assert spec.interval is not None
    if spec.timezone:
        return IntervalSchedule(interval=timedelta(seconds=spec.interval), timezone=spec.timezone)
    return IntervalSchedule(interval=timedelta(seconds=spec.interval))


def _schedule_fingerprint(schedule: Any, active: bool, parameters: dict[str, Any]) -> Any:
    """What makes two schedules the same, ignoring anchors Prefect fills in by itself."""
    data = schedule.model_dump(mode="json")
    data.pop("anchor_date", None)
    return (data, bool(active), parameters or {})


def _wanted_fields(spec: DeploymentSpec, flow: Any, settings: Settings) -> dict[str, Any]:
    # Every run reports it is alive at the settings' pace: the zombie automation
    # (_ensure_zombie_automation) marks a run Crashed when those heartbeats stop.
    job_variables = dict(spec.job_variables)
    job_variables["env"] = {
        **dict(job_variables.get("env") or {}),
        HEARTBEAT_ENV: str(settings.flow_heartbeat_seconds),
    }
    if settings.worker_python:
        # The worker starts the engine itself (one process, the pull steps run inside it)
        # rather than through Prefect's workspace supervisor (a supervisor, a workspace-
        # preparing subprocess, then the engine: 2-3 Python start-ups before a run is
        # Running); deployments.warm_start forks it from a warm server when one runs, else
        # execs `python -m prefect.engine`.
        python = shlex.quote(settings.worker_python)
        job_variables["command"] = f"{python} -m deployments.warm_start"
    options = (
        ConcurrencyOptions(collision_strategy=spec.collision_strategy)  # type: ignore[arg-type]
        if spec.concurrency_limit is not None and spec.collision_strategy
        else None
    )
    return {
        "description": spec.description or None,
        "tags": list(spec.tags),
        "parameters": dict(spec.parameters),
        "work_pool_name": spec.work_pool,
        "work_queue_name": spec.work_queue,
        "entrypoint": spec.entrypoint,
        "pull_steps": [dict(step) for step in spec.pull_steps],
        "job_variables": job_variables,
        "enforce_parameter_schema": spec.enforce_parameter_schema,
        "parameter_openapi_schema": flow.parameters.model_dump(),
        "concurrency_limit": spec.concurrency_limit,
        "concurrency_options": options,
    }


def _current_fields(deployment: Any) -> dict[str, Any]:
    limit = deployment.global_concurrency_limit
    return {
        "description": deployment.description,
        "tags": list(deployment.tags),
        "parameters": deployment.parameters,
        "work_pool_name": deployment.work_pool_name,
        "work_queue_name": deployment.work_queue_name,
        "entrypoint": deployment.entrypoint,
        "pull_steps": deployment.pull_steps or [],
        "job_variables": deployment.job_variables or {},
        "enforce_parameter_schema": deployment.enforce_parameter_schema,
        "parameter_openapi_schema": deployment.parameter_openapi_schema,
        "concurrency_limit": limit.limit if limit is not None else None,
        "concurrency_options": deployment.concurrency_options,
    }


def _comparable(name: str, value: Any) -> Any:
    if name == "concurrency_options":
        return value.collision_strategy.value if value is not None else None
    return value


async def _ensure_deployment(
    client: Any, spec: DeploymentSpec, flow: Any, settings: Settings, report: DeployReport
) -> None:
    full_name = f"{flow.name}/{spec.name}"
    wanted = _wanted_fields(spec, flow, settings)
    try:
        current = await client.read_deployment_by_name(full_name)
    except ObjectNotFound:
        current = None

    if current is None:
        flow_id = await client.create_flow_from_name(flow.name)
        deployment_id = await client.create_deployment(
            flow_id=flow_id,
            name=spec.name,
            schedules=[
                DeploymentScheduleCreate(
                    schedule=_prefect_schedule(s),
                    active=s.active,
                    parameters=s.parameters,
                    slug=s.slug,
                )
                for s in spec.schedules
            ],
            paused=False,
            **wanted,
        )
        schedules = ", ".join(s.slug for s in spec.schedules) or "no schedule"
        report.add(
            "deployment",
            full_name,
            "created",
            f"queue {spec.work_queue}; {schedules}",
            deployment_id,
        )
        for s in spec.schedules:
            report.add("schedule", f"{full_name}#{s.slug}", "created", _show_schedule(s))
        return

    have = _current_fields(current)
    differs = sorted(
        name for name in wanted if _comparable(name, wanted[name]) != _comparable(name, have[name])
    )
    if differs:
        await client.update_deployment(current.id, DeploymentUpdate(**wanted))
        report.add("deployment", full_name, "updated", ", ".join(differs), current.id)
    else:
        report.add("deployment", full_name, "unchanged", f"queue {spec.work_queue}", current.id)
    await _sync_schedules(client, current.id, full_name, spec, report)


async def _sync_schedules(
    client: Any, deployment_id: Any, full_name: str, spec: DeploymentSpec, report: DeployReport
) -> None:
    existing = await client.read_deployment_schedules(deployment_id)
    by_slug = {s.slug: s for s in existing if s.slug}
    wanted_slugs = {s.slug for s in spec.schedules}
    for schedule in existing:
        if schedule.slug not in wanted_slugs:
            await client.delete_deployment_schedule(deployment_id, schedule.id)
            report.add(
                "schedule",
                f"{full_name}#{schedule.slug or schedule.id}",
                "deleted",
                "not in prefect.yaml",
                schedule.id,
            )
    for s in spec.schedules:
        target = _prefect_schedule(s)
        label = f"{full_name}#{s.slug}"
        current = by_slug.get(s.slug)
        if current is None:
            [created] = await client.create_deployment_schedules(
                deployment_id,
                [
                    DeploymentScheduleCreate(
                        schedule=target, active=s.active, parameters=s.parameters, slug=s.slug
                    )
                ],
            )
            report.add("schedule", label, "created", _show_schedule(s), created.id)
        elif _schedule_fingerprint(
            current.schedule, current.active, current.parameters
        ) != _schedule_fingerprint(target, s.active, s.parameters):
            await client.update_deployment_schedule(
                deployment_id,
                current.id,
                active=s.active,
                schedule=target,
                parameters=s.parameters,
            )
            report.add("schedule", label, "updated", _show_schedule(s), current.id)
        else:
            report.add("schedule", label, "unchanged", _show_schedule(s), current.id)


def _show_schedule(s: ScheduleSpec) -> str:
    what = f"cron {s.cron!r}" if s.cron is not None else f"every {s.interval:g}s"
    return f"{what} {s.timezone or 'UTC'}" + ("" if s.active else " (inactive)")


def _describe(updates: dict[str, Any]) -> str:
    return ", ".join(f"{k} -> {v!r}" for k, v in updates.items())

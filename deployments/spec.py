"""prefect.yaml, read into plain typed values (no Prefect client, no flow imports).

Only the subset of prefect.yaml that reelflow uses is accepted; anything else in a deployment
or a schedule is an error, so a typo cannot silently drop a schedule or a limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from reelflow.core.errors import SpecError

__all__ = [
    "DeploymentSpec",
    "ProjectSpec",
    "QueueSpec",
    "ScheduleSpec",
    "load_project",
]

_DEPLOYMENT_KEYS = {
    "name",
    "description",
    "entrypoint",
    "work_pool",
    "tags",
    "parameters",
    "schedules",
    "concurrency_limit",
    "enforce_parameter_schema",
    "pull",
}
_SCHEDULE_KEYS = {"cron", "interval", "timezone", "slug", "active", "parameters", "day_or"}
_STRATEGIES = {"ENQUEUE", "CANCEL_NEW"}


@dataclass(frozen=True)
class QueueSpec:
    name: str
    priority: int
    description: str = ""


@dataclass(frozen=True)
class ScheduleSpec:
    slug: str
    cron: str | None = None
    interval: float | None = None  # seconds
    timezone: str | None = None
    active: bool = True
    day_or: bool = True
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DeploymentSpec:
    name: str
    entrypoint: str  # flows/<file>.py:<function>
    work_pool: str
    work_queue: str
    description: str = ""
    tags: tuple[str, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)
    schedules: tuple[ScheduleSpec, ...] = ()
    concurrency_limit: int | None = None
    collision_strategy: str | None = None
    job_variables: dict[str, Any] = field(default_factory=dict)
    pull_steps: tuple[dict[str, Any], ...] = ()
    enforce_parameter_schema: bool = True

    @property
    def module(self) -> str:
        """The importable module of the entrypoint: flows/backfill.py -> flows.backfill."""
        path = self.entrypoint.rsplit(":", 1)[0]
        return path.removesuffix(".py").replace("/", ".")

    @property
    def function(self) -> str:
        return self.entrypoint.rsplit(":", 1)[1]

    def file(self, root: Path) -> Path:
        return root / self.entrypoint.rsplit(":", 1)[0]


@dataclass(frozen=True)
class ProjectSpec:
    name: str
    queues: tuple[QueueSpec, ...]
    deployments: tuple[DeploymentSpec, ...]

    def deployment(self, name: str) -> DeploymentSpec:
        for spec in self.deployments:
            if spec.name == name:
                return spec
        raise SpecError(f"prefect.yaml has no deployment named {name!r}")


def load_project(path: Path, *, work_pool: str | None = None) -> ProjectSpec:
    """Read prefect.yaml; `work_pool` (settings.work_pool) replaces every pool name in it."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SpecError(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a mapping at the top level")
    return parse_project(data, work_pool=work_pool, source=str(path))


def parse_project(
    data: dict[str, Any], *, work_pool: str | None = None, source: str = "prefect.yaml"
) -> ProjectSpec:
    pull = _steps(data.get("pull"), f"{source}: pull")
    queues = _queues((data.get("definitions") or {}).get("work_queues"), source)
    raw = data.get("deployments")
    if not isinstance(raw, list) or not raw:
        raise SpecError(f"{source}: no deployments")
    deployments = tuple(
        _deployment(item, index, pull, work_pool, source) for index, item in enumerate(raw)
    )
    names = [d.name for d in deployments]
    if len(set(names)) != len(names):
        raise SpecError(f"{source}: deployment names must be unique, got {names}")
    known = {q.name for q in queues}
    for spec in deployments:
        if spec.work_queue not in known:
            raise SpecError(
                f"{source}: deployment {spec.name!r} uses queue {spec.work_queue!r}, which is "
                f"not in definitions.work_queues ({sorted(known)})"
            )
    return ProjectSpec(
        name=str(data.get("name") or "reelflow"), queues=queues, deployments=deployments
    )


def _queues(raw: Any, source: str) -> tuple[QueueSpec, ...]:
    if not isinstance(raw, list) or not raw:
        raise SpecError(f"{source}: definitions.work_queues must list the pool's queues")
    queues = []
    for item in raw:
        if not isinstance(item, dict) or "name" not in item or "priority" not in item:
            raise SpecError(f"{source}: each work queue needs a name and a priority: {item!r}")
        queues.append(
            QueueSpec(
                name=str(item["name"]),
                priority=int(item["priority"]),
                description=str(item.get("description") or ""),
            )
        )
    priorities = [q.priority for q in queues]
    if len(set(priorities)) != len(priorities) or min(priorities) < 1:
        raise SpecError(f"{source}: queue priorities must be distinct integers >= 1")
    return tuple(sorted(queues, key=lambda q: q.priority))


def _steps(raw: Any, where: str) -> tuple[dict[str, Any], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(step, dict) for step in raw):
        raise SpecError(f"{where}: expected a list of steps")
    return tuple(raw)


def _deployment(
    raw: Any, index: int, pull: tuple[dict[str, Any], ...], pool: str | None, source: str
) -> DeploymentSpec:
    where = f"{source}: deployments[{index}]"
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: expected a mapping")
    unknown = set(raw) - _DEPLOYMENT_KEYS
    if unknown:
        raise SpecError(f"{where}: unsupported keys {sorted(unknown)}")
    name = raw.get("name")
    entrypoint = raw.get("entrypoint")
    if not name or not isinstance(entrypoint, str) or ":" not in entrypoint:
        raise SpecError(f"{where}: needs a name and an entrypoint 'flows/<file>.py:<flow>'")
    where = f"{source}: deployment {name!r}"
    work_pool = raw.get("work_pool") or {}
    queue = work_pool.get("work_queue_name")
    if not queue:
        raise SpecError(f"{where}: work_pool.work_queue_name is required")
    limit, strategy = _concurrency(raw.get("concurrency_limit"), where)
    return DeploymentSpec(
        name=str(name),
        entrypoint=entrypoint,
        work_pool=pool or str(work_pool.get("name") or "reelflow"),
        work_queue=str(queue),
        description=str(raw.get("description") or "").strip(),
        tags=tuple(str(tag) for tag in raw.get("tags") or ()),
        parameters=dict(raw.get("parameters") or {}),
        schedules=_schedules(raw.get("schedules"), where),
        concurrency_limit=limit,
        collision_strategy=strategy,
        job_variables=dict(work_pool.get("job_variables") or {}),
        pull_steps=_steps(raw["pull"], f"{where}: pull") if "pull" in raw else pull,
        enforce_parameter_schema=bool(raw.get("enforce_parameter_schema", True)),
    )


def _concurrency(raw: Any, where: str) -> tuple[int | None, str | None]:
    if raw is None:
        return None, None
    if isinstance(raw, int):
        return raw, None
    if isinstance(raw, dict) and isinstance(raw.get("limit"), int):
        strategy = raw.get("collision_strategy")
        if strategy is not None and strategy not in _STRATEGIES:
            raise SpecError(f"{where}: collision_strategy must be one of {sorted(_STRATEGIES)}")
        return int(raw["limit"]), strategy
    raise SpecError(
        f"{where}: concurrency_limit must be an integer or {{limit, collision_strategy}}"
    )


def _schedules(raw: Any, where: str) -> tuple[ScheduleSpec, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise SpecError(f"{where}: schedules must be a list")
    schedules = []
    for item in raw:
        if not isinstance(item, dict):
            raise SpecError(f"{where}: each schedule must be a mapping")
        unknown = set(item) - _SCHEDULE_KEYS
        if unknown:
            raise SpecError(f"{where}: unsupported schedule keys {sorted(unknown)}")
        if ("cron" in item) == ("interval" in item):
            raise SpecError(f"{where}: a schedule needs exactly one of cron or interval")
        if not item.get("slug"):
            raise SpecError(
                f"{where}: every schedule needs a slug (deploy matches schedules by slug)"
            )
        schedules.append(
            ScheduleSpec(
                slug=str(item["slug"]),
                cron=str(item["cron"]) if "cron" in item else None,
                interval=float(item["interval"]) if "interval" in item else None,
                timezone=item.get("timezone"),
                active=bool(item.get("active", True)),
                day_or=bool(item.get("day_or", True)),
                parameters=dict(item.get("parameters") or {}),
            )
        )
    slugs = [s.slug for s in schedules]
    if len(set(slugs)) != len(slugs):
        raise SpecError(f"{where}: schedule slugs must be unique")
    return tuple(schedules)

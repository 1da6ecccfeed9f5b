"""The dependency gates of a run: the object store, the database and each origin host, shared
by the run's tasks, so that while one is down assets are held instead of spending their retries
(reelflow.core.outage explains the rules; REELFLOW_OUTAGE_* are the settings). A gate makes
each call once; re-attempts are the task's own, counted retries.

    ride_out("s3", lambda: ...)            StorageUnavailable: the object store is down
    ride_out("database", lambda: ...)      DatabaseUnavailable
    ride_out(origin(url), lambda: ..., probe=...)
                                           OriginUnreachable: the host refuses connections

While one is down, the gate asks it with a probe of its own: a HEAD of the bucket, `SELECT 1`,
or a HEAD of the origin URL (given by the download).

Gates are kept per flow run (a test process runs many; a breaker opened by one must not hold
up the next) and outside a run per process. A state change is logged once, not per asset.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from reelflow.core.breaker import Breaker, State
from reelflow.core.errors import (
    DatabaseUnavailable,
    OriginUnreachable,
    StorageUnavailable,
    TransientError,
)
from reelflow.core.outage import Gate
from reelflow.services import resources
from reelflow.settings import get_settings
from tasks.log import run_logger

__all__ = ["gate", "gates_of_run", "origin", "ride_out"]

T = TypeVar("T")

_KEEP_RUNS = 16
_gates: OrderedDict[tuple[Any, str], Gate] = OrderedDict()
_lock = threading.Lock()

_KINDS: dict[str, tuple[str, type[TransientError]]] = {
    "s3": ("S3", StorageUnavailable),
    "database": ("the database", DatabaseUnavailable),
}


def _probe_store() -> None:
    resources.store().probe(get_settings().s3_bucket_name)


def _probe_database() -> None:
    resources.ping_database()


_PROBES: dict[str, Callable[[], None]] = {"s3": _probe_store, "database": _probe_database}


def origin(url: str) -> str:
    """The dependency name of a source URL's host."""
    return f"origin:{urlsplit(url).hostname or '?'}"


def _run_id() -> Any:
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    return context.flow_run.id if context is not None and context.flow_run else None


def _log_change(name: str, max_wait: float) -> Callable[[State, State, str], None]:
    def log(old: State, new: State, reason: str) -> None:
        logger = run_logger()
        if old == "closed" and new == "open":
            logger.warning(
                "%s is unavailable (%s): assets wait for it, up to %g s", name, reason, max_wait
            )
        elif new == "closed":
            logger.warning("%s is back: waiting assets go on", name)

    return log


def gate(dependency: str) -> Gate:
    """The current run's gate for `dependency` ("s3", "database" or origin(url))."""
    key = (_run_id(), dependency)
    with _lock:
        found = _gates.get(key)
        if found is not None:
            _gates.move_to_end(key)
            return found
        settings = get_settings()
        error: type[TransientError]
        if dependency.startswith("origin:"):
            name, error = f"origin {dependency.split(':', 1)[1]}", OriginUnreachable
            probe = None  # the download tells it the URL to ask
        else:
            (name, error), probe = _KINDS[dependency], _PROBES[dependency]
        made = Gate(
            name,
            Breaker(
                settings.outage_probe_seconds,
                threshold=settings.outage_threshold,
                on_change=_log_change(name, settings.outage_max_wait),
            ),
            error_type=error,
            max_wait=settings.outage_max_wait,
            probe=probe,
        )
        _gates[key] = made
        while len(_gates) > _KEEP_RUNS * 4:
            _gates.popitem(last=False)
        return made


def ride_out(
    dependency: str, fn: Callable[[], T], *, probe: Callable[[], object] | None = None
) -> T:
    """fn(), made once, held first while `dependency` is down (see the module's docstring)."""
    return gate(dependency).call(fn, probe=probe)


def gates_of_run(run_id: Any) -> dict[str, Gate]:
    """The gates a flow run used, by dependency (what its report and the tests read)."""
    with _lock:
        return {dep: found for (run, dep), found in _gates.items() if run == run_id}

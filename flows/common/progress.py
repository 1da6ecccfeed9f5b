"""Progress for long runs: a Prefect progress artifact (throttled), an in-process listener,
and the run's live event stream for the HTTP API (flows/common/live.py).

Each artifact update is an API call, so updates happen at most every `min_interval` seconds
and only when the percentage moved. A CLI in the same process can listen too (a progress bar)
through `listen()`, without any API call.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from prefect.artifacts import create_progress_artifact, update_progress_artifact

from flows.common.live import LiveProgress

__all__ = ["Progress", "listen"]

Listener = Callable[[int, int, Any], None]
_listener: contextvars.ContextVar[Listener | None] = contextvars.ContextVar(
    "reelflow_progress_listener", default=None
)


@contextmanager
def listen(callback: Listener) -> Iterator[None]:
    """Call `callback(done, total, detail)` once when the work is queued (done=0, detail None)
    and then for every finished item of flows run in this block."""
    token = _listener.set(callback)
    try:
        yield
    finally:
        _listener.reset(token)


class Progress:
    def __init__(self, total: int, *, key: str, description: str, min_interval: float = 2.0):
        self.total = total
        self.done = 0
        self._min_interval = min_interval
        self._last_sent = 0.0
        self._last_percent = -1.0
        self._listener = _listener.get()
        self._artifact_id: UUID | None = None
        self._live = LiveProgress(total)  # the HTTP API's live stream (flows/common/live.py)
        if self._listener is not None:
            self._listener(0, total, None)
        if total:
            self._artifact_id = create_progress_artifact(  # type: ignore[assignment]
                0.0, key=key, description=description
            )

    @property
    def percent(self) -> float:
        return 100.0 * self.done / self.total if self.total else 100.0

    def advance(self, detail: Any = None) -> None:
        self.done += 1
        self._live.advance(detail)
        if self._listener is not None:
            self._listener(self.done, self.total, detail)
        now = time.monotonic()
        finished = self.done >= self.total
        due = finished or now - self._last_sent >= self._min_interval
        if self._artifact_id and due and self.percent != self._last_percent:
            update_progress_artifact(self._artifact_id, self.percent)
            self._last_sent, self._last_percent = now, self.percent

"""Live progress for the HTTP API: a run's events on its Redis stream (reelflow.adapters.events).

    started   {"total"}                                          when the assets are known
    progress  {"done", "total", "percent", "assets": [...]}      at most every 0.25 s, and last
    finished  {"state", "message", "counts"}                     the run's final state

Each `progress` event carries every asset that finished since the one before (episode, kind,
status, error), so throttling drops no asset. Nothing here can fail a run.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from reelflow.adapters.events import Publisher
from reelflow.settings import get_settings

__all__ = ["LiveProgress", "publish_finished"]

MIN_INTERVAL = 0.25


def _run_id() -> str | None:
    from prefect.runtime import flow_run

    run_id = flow_run.id
    return str(run_id) if run_id else None


class LiveProgress:
    """The per-asset half of a run's events."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self._pending: list[dict[str, Any]] = []
        self._last = 0.0
        self._lock = threading.Lock()
        self._publisher = Publisher(get_settings(), _run_id())
        self._publisher.publish("started", {"total": total})

    def advance(self, detail: Any) -> None:
        with self._lock:
            self.done += 1
            job = getattr(detail, "job", None)
            if job is not None:
                item = {"episode": job.number, "kind": job.kind, "status": detail.status}
                if getattr(detail, "error", None):
                    item["error"] = detail.error
                self._pending.append(item)
            now = time.monotonic()
            if self.done < self.total and now - self._last < MIN_INTERVAL:
                return
            assets, self._pending = self._pending, []
            self._last = now
            percent = round(100.0 * self.done / self.total, 1) if self.total else 100.0
            self._publisher.publish(
                "progress",
                {"done": self.done, "total": self.total, "percent": percent, "assets": assets},
            )


def publish_finished(state: str, message: str, counts: dict[str, Any]) -> None:
    """The run's last event: its final state (the API's streams end on it)."""
    publisher = Publisher(get_settings(), _run_id())
    try:
        publisher.publish("finished", {"state": state, "message": message, "counts": counts})
    finally:
        publisher.close()

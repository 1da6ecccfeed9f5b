"""Live progress of a run as a Redis stream: the flow appends, the API reads.

Why a Redis stream (XADD/XREAD), not pub/sub or Prefect's events: a stream keeps the events
and gives each an id that orders them (`1733212800000-0`), so a client that reconnects with
`Last-Event-ID` reads on from exactly there: no gap, no duplicate, whichever API process or
machine it reaches. Pub/sub forgets what no one was listening to; Prefect's event stream
needs its websocket client and filters per resource in every API process. The stream of a
run is capped (`MAXLEN ~ 10000`) and expires a day after its last event.

Publishing never fails a run: the first Redis error switches the publisher off for the rest
of the run (the artifact and the database still have the progress), and readers fall back to
polling the run's status (reelflow.services.progress).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from reelflow.settings import Settings

__all__ = ["EventLog", "Publisher", "stream_key"]

log = logging.getLogger(__name__)
MAX_EVENTS = 10_000
TTL_SECONDS = 24 * 3600


def stream_key(settings: Settings, run_id: str) -> str:
    return f"{settings.redis_key_prefix}events:{run_id}"


class Publisher:
    """Appends a run's events; off after the first failure (or when USE_REDIS is off)."""

    def __init__(self, settings: Settings, run_id: str | None) -> None:
        self._key = stream_key(settings, run_id) if run_id else None
        self._client: Any = None
        self.on = bool(run_id) and settings.use_redis
        if self.on:
            from reelflow.adapters.redis_cache import make_client

            # Not the URL cache's 50 ms: a worker's Redis may be a network hop away.
            self._client = make_client(settings, timeout=1.0)

    def publish(self, event: str, data: dict[str, Any]) -> str | None:
        """The event's id, or None when it was not published."""
        if not self.on:
            return None
        try:
            pipe = self._client.pipeline(transaction=False)
            pipe.xadd(
                self._key,
                {"event": event, "data": json.dumps(data, separators=(",", ":"))},
                maxlen=MAX_EVENTS,
                approximate=True,
            )
            pipe.expire(self._key, TTL_SECONDS)
            event_id, _ = pipe.execute()
        except Exception as exc:  # Redis down or refusing: progress stays in the artifact
            log.warning("live progress off for this run: Redis said %s", type(exc).__name__)
            self.on = False
            return None
        return event_id.decode() if isinstance(event_id, bytes) else str(event_id)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


class EventLog:
    """Reads a run's events after an id, waiting up to `block_ms` for new ones."""

    BLOCK_MS = 10_000  # the longest a read waits for new events

    def __init__(self, settings: Settings) -> None:
        from reelflow.adapters.redis_cache import make_client

        self._settings = settings
        self._client = make_client(settings, timeout=self.BLOCK_MS / 1000 + 2)

    def read(
        self, run_id: str, after: str, *, block_ms: int, count: int = 100
    ) -> list[tuple[str, str, dict[str, Any]]]:
        """[(id, event, data)] after `after` ('0-0': from the start). Raises the Redis error
        when Redis cannot be read (the caller falls back to polling)."""
        key = stream_key(self._settings, run_id)
        found = self._client.xread({key: after}, count=count, block=block_ms or None)
        events = []
        for _, entries in found or []:
            for raw_id, fields in entries:
                event_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
                name = fields.get(b"event", b"message").decode()
                data = json.loads(fields.get(b"data", b"{}"))
                events.append((event_id, name, data))
        return events

    def close(self) -> None:
        self._client.close()

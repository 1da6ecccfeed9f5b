"""A run's live progress for clients: Server-Sent Events and a WebSocket, both resumable.

Events come from the run's Redis stream (reelflow.adapters.events; flows/common/live.py
writes it). Every event has the stream's id; a client that reconnects with `Last-Event-ID`
(SSE) or `?last_event_id=` (WebSocket) gets what came after it, no gap. Both end after the
`finished` event.

Without Redis (off, or down) the stream does not fail: it polls the run's status every
`POLL_SECONDS` and sends `status` events (ids `poll-N`), then `finished` when the run ends.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from anyio import to_thread

from reelflow.settings import get_settings

__all__ = ["Event", "events", "sse"]

POLL_SECONDS = 2.0
FINAL_TYPES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@dataclass(frozen=True)
class Event:
    id: str
    event: str
    data: dict[str, Any]


def _status(run_id: UUID) -> tuple[dict[str, Any], bool]:
    """The run's state and its movie's asset counts; (data, final)."""
    from reelflow.adapters.db import catalog
    from reelflow.api import runs
    from reelflow.services import resources

    run = runs.import_run(run_id)
    _, counts = catalog.movie_assets(resources.engine(), run.movie_id, limit=1)
    data = {"state": run.state, "state_type": run.state_type, "counts": counts}
    return data, (run.state_type or "") in FINAL_TYPES


async def _poll(run_id: UUID) -> AsyncIterator[Event]:
    number = 0
    while True:
        data, final = await to_thread.run_sync(_status, run_id)
        number += 1
        if final:
            yield Event(f"poll-{number}", "finished", data)
            return
        yield Event(f"poll-{number}", "status", data)
        await asyncio.sleep(POLL_SECONDS)


async def events(run_id: UUID, after: str | None) -> AsyncIterator[Event]:
    """The run's events after `after`; ends after `finished`. Falls back to polling."""
    settings = get_settings()
    if not settings.use_redis:
        async for event in _poll(run_id):
            yield event
        return
    from reelflow.adapters.events import EventLog

    log = EventLog(settings)
    cursor = after if after and not after.startswith("poll-") else "0-0"
    try:
        while True:
            try:
                found = await to_thread.run_sync(
                    functools.partial(log.read, str(run_id), cursor, block_ms=EventLog.BLOCK_MS)
                )
            except Exception:  # Redis went away: poll the status instead
                async for event in _poll(run_id):
                    yield event
                return
            if not found:  # nothing for a while: has the run ended without a word?
                data, final = await to_thread.run_sync(_status, run_id)
                if final:
                    yield Event("poll-final", "finished", data)
                    return
                yield Event(cursor, "keepalive", {})
                continue
            for event_id, name, data in found:
                cursor = event_id
                yield Event(event_id, name, data)
                if name == "finished":
                    return
    finally:
        log.close()


async def sse(run_id: UUID, after: str | None) -> AsyncIterator[bytes]:
    """The events as text/event-stream (a comment line keeps idle connections open)."""
    yield b"retry: 2000\n\n"
    async for event in events(run_id, after):
        if event.event == "keepalive":
            yield b": keep-alive\n\n"
            continue
        body = json.dumps(event.data, separators=(",", ":"))
        yield f"id: {event.id}\nevent: {event.event}\ndata: {body}\n\n".encode()

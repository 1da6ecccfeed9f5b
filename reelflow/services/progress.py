"""A run's progress as a stream of events, for live clients (reelflow.api.live): resumable,
and working without Redis.

Events come from the run's Redis stream (reelflow.adapters.events; flows/common/live.py
writes it). Every event has the stream's id; `events(run_id, after)` gives what came after
`after`, no gap, and ends after the `finished` event.

Without Redis (off, or down) the stream does not fail: it polls the run's status
(reelflow.services.imports.progress) every `POLL_SECONDS` and gives `status` events (ids
`poll-N`), then `finished` when the run ends. When Redis has nothing for a while, a
`keepalive` event (not for clients' eyes) says the run is still going.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from anyio import to_thread

from reelflow.adapters.events import EventLog
from reelflow.services import imports
from reelflow.settings import get_settings

__all__ = ["POLL_SECONDS", "Event", "events"]

POLL_SECONDS = 2.0


@dataclass(frozen=True)
class Event:
    id: str
    event: str
    data: dict[str, Any]


async def _poll(run_id: UUID) -> AsyncIterator[Event]:
    number = 0
    while True:
        data, final = await to_thread.run_sync(imports.progress, run_id)
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
                data, final = await to_thread.run_sync(imports.progress, run_id)
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

"""A run's live progress for clients: Server-Sent Events and a WebSocket, both resumable.

    GET /api/v1/imports/{run_id}/events   read  text/event-stream; `Last-Event-ID` resumes
    WS  /api/v1/imports/{run_id}/ws       read  JSON messages {id, event, data};
                                                `?last_event_id=` resumes

The events, and polling without Redis, are reelflow.services.progress. Both streams end
after the `finished` event.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated
from uuid import UUID

from anyio import to_thread
from fastapi import APIRouter, Header, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

from reelflow.api.params import API
from reelflow.api.security import READ, socket_allowed
from reelflow.services import imports, progress

__all__ = ["router", "sse"]

router = APIRouter(prefix=API)


async def sse(run_id: UUID, after: str | None) -> AsyncIterator[bytes]:
    """The events as text/event-stream (a comment line keeps idle connections open)."""
    yield b"retry: 2000\n\n"
    async for event in progress.events(run_id, after):
        if event.event == "keepalive":
            yield b": keep-alive\n\n"
            continue
        body = json.dumps(event.data, separators=(",", ":"))
        yield f"id: {event.id}\nevent: {event.event}\ndata: {body}\n\n".encode()


@router.get(
    "/imports/{run_id}/events",
    dependencies=[READ],
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
)
def import_events(
    run_id: UUID,
    last_event_id: Annotated[str | None, Header(max_length=64)] = None,
) -> StreamingResponse:
    """Server-Sent Events: `started`, `progress` (each with the assets finished since the
    one before), then `finished`. Reconnect with `Last-Event-ID` to resume."""
    imports.import_run(run_id)  # 404 before the stream starts
    return StreamingResponse(
        sse(run_id, last_event_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.websocket("/imports/{run_id}/ws")
async def import_socket(
    websocket: WebSocket, run_id: UUID, last_event_id: str | None = None
) -> None:
    """The same events as JSON messages {id, event, data}; `?last_event_id=` resumes.
    The token goes in the handshake's Authorization header."""
    if not socket_allowed(websocket, "read"):
        await websocket.close(code=1008, reason="a token with the read scope is needed")
        return
    try:
        await to_thread.run_sync(imports.import_run, run_id)
    except imports.RunNotFound as exc:
        await websocket.close(code=1008, reason=str(exc)[:120])
        return
    await websocket.accept()
    try:
        async for event in progress.events(run_id, last_event_id):
            if event.event == "keepalive":
                continue
            await websocket.send_json({"id": event.id, "event": event.event, "data": event.data})
        await websocket.close(code=1000)
    except WebSocketDisconnect:
        return

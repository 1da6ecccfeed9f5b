"""Who may call: bearer tokens with scopes (reelflow.core.auth), and how much they may send.

The token is read from the Authorization header only (never a query string, which proxies
and access logs keep), compared in constant time, and never logged: the access log of
`reelflow serve` records method, path and status: no headers, and no query string
(reelflow.api.access_log), where signed URLs and browser tokens travel.

`READ` and `WRITE` are the routes' dependencies. An app built with `create_app(insecure=True)`
(`reelflow serve --insecure-local`) says so in `app.state.insecure`, and every call is let
through.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Depends, Request
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reelflow.api.problems import Problem, problem_response
from reelflow.core.auth import authorize
from reelflow.settings import get_settings

__all__ = ["READ", "WRITE", "BodyLimit", "require", "socket_allowed"]

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="reelflow"'}
_PAGE_CHALLENGE = {"WWW-Authenticate": 'Basic realm="reelflow", charset="UTF-8"'}


def _insecure(connection: HTTPConnection) -> bool:
    return bool(getattr(connection.app.state, "insecure", False))


def require(scope: str) -> Callable[[Request], Awaitable[None]]:
    """A dependency: 401 without a valid token, 403 when it lacks `scope`. Async, because it
    does no I/O: a plain function would cost a hop to the thread pool on every request."""

    async def check(request: Request) -> None:
        if _insecure(request):
            return
        verdict = authorize(
            request.headers.get("authorization"), get_settings().api_token_list(), scope
        )
        # The page at `/` asks the browser for Basic credentials (the token as password).
        challenge = _PAGE_CHALLENGE if request.url.path == "/" else _CHALLENGE
        if verdict == "missing":
            raise Problem(401, "unauthorized", "send Authorization: Bearer <token>", challenge)
        if verdict == "invalid":
            raise Problem(401, "unauthorized", "the token is not valid", challenge)
        if verdict == "forbidden":
            raise Problem(403, "forbidden", f"this call needs the {scope!r} scope")

    return check


READ = Depends(require("read"))
WRITE = Depends(require("write"))


def socket_allowed(connection: HTTPConnection, scope: str) -> bool:
    """Whether a WebSocket handshake's Authorization header carries a token with `scope`."""
    verdict = authorize(
        connection.headers.get("authorization"), get_settings().api_token_list(), scope
    )
    return verdict == "ok" or _insecure(connection)


class BodyLimit:
    """413 for a body over `max_bytes`: by its Content-Length at once, and for a chunked body
    as soon as that much has arrived (reading stops there; the app is never called). A body
    within the limit is handed on whole (it is at most `max_bytes`)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0 or declared > self.max_bytes:
                    await self._refuse(scope, send)
                    return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                await self._refuse(scope, send)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        whole = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": whole, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        mb = self.max_bytes / 2**20
        response = problem_response(
            None, 413, "too-large", f"the body is over {mb:g} MB (REELFLOW_API_MAX_BODY_MB)"
        )
        await response(scope, _no_receive, send)


async def _no_receive() -> Any:
    return {"type": "http.disconnect"}

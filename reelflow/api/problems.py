"""Errors as RFC 9457 problem details (`application/problem+json`), with stable codes.

Every error the API answers is one of these: `type` is a stable URI naming the problem
(`/problems/<code>` under the API), `title` says what it is, `detail` what happened, `status`
the HTTP status, `code` the stable code again for clients that switch on it. A bug is a 500
`internal` problem without its message or a stack trace (the log has them).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from reelflow.core.errors import (
    ConfigurationError,
    DatabaseUnavailable,
    InputError,
    ManifestError,
    ManifestNotFound,
    MovieNotFound,
    PrefectUnavailable,
    ReelflowError,
    StorageUnavailable,
    TransientError,
)
from reelflow.core.redaction import scrub
from reelflow.services.imports import RunNotFound

__all__ = ["PROBLEM_TYPE", "Problem", "install", "problem_response"]

PROBLEM_TYPE = "application/problem+json"
logger = logging.getLogger("reelflow.api")

_TITLES = {
    "unauthorized": "Authentication required",
    "forbidden": "Not allowed for this token",
    "not-found": "Not found",
    "invalid-request": "The request is not valid",
    "invalid-manifest": "The manifest is not valid",
    "too-large": "Request body too large",
    "method-not-allowed": "Method not allowed",
    "unavailable": "A service reelflow needs is not answering",
    "misconfigured": "reelflow is not configured for this",
    "internal": "Internal error",
}


class Problem(Exception):
    """Raise to answer with a problem document."""

    def __init__(
        self, status: int, code: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers or {}


def problem_response(
    request: Request | None,
    status: int,
    code: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"/problems/{code}",
        "title": _TITLES.get(code, code.replace("-", " ").capitalize()),
        "status": status,
        "detail": scrub(detail),
        "code": code,
        **extra,
    }
    if request is not None:
        body["instance"] = request.url.path
    return JSONResponse(body, status_code=status, media_type=PROBLEM_TYPE, headers=headers)


def _from_reelflow(error: ReelflowError) -> tuple[int, str]:
    if isinstance(error, MovieNotFound | ManifestNotFound):
        return 404, "not-found"
    if isinstance(error, ManifestError):
        return 422, "invalid-manifest"
    if isinstance(error, InputError):
        return 400, "invalid-request"
    if isinstance(error, ConfigurationError):
        return 503, "misconfigured"
    if isinstance(
        error, TransientError | DatabaseUnavailable | PrefectUnavailable | StorageUnavailable
    ):
        return 503, "unavailable"
    return 500, "internal"


def install(app: FastAPI) -> None:
    """Make every error of `app` a problem document."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(request, exc.status, exc.code, exc.detail, exc.headers)

    @app.exception_handler(ReelflowError)
    async def _reelflow(request: Request, exc: ReelflowError) -> JSONResponse:
        status, code = _from_reelflow(exc)
        if status == 500:
            logger.error("request failed: %s", scrub(f"{type(exc).__name__}: {exc}"))
            return problem_response(request, 500, "internal", "the request failed")
        headers = {"Retry-After": "5"} if status == 503 else None
        return problem_response(request, status, code, str(exc), headers)

    @app.exception_handler(RunNotFound)
    async def _no_run(request: Request, exc: RunNotFound) -> JSONResponse:
        return problem_response(request, 404, "not-found", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"where": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg", "")}
            for e in exc.errors()
        ][:50]
        detail = "; ".join(f"{e['where']}: {e['problem']}" for e in errors[:5])
        return problem_response(request, 422, "invalid-request", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {401: "unauthorized", 403: "forbidden", 404: "not-found", 405: "method-not-allowed"}
        return problem_response(
            request,
            exc.status_code,
            code.get(exc.status_code, "invalid-request"),
            str(exc.detail),
            dict(exc.headers or {}),
        )

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        logger.error("request failed: %s", scrub(f"{type(exc).__name__}: {exc}"))
        return problem_response(request, 500, "internal", "the request failed")

"""Health: is the process up, and can it work.

GET /healthz   read  the process answers
GET /readyz    read  the database and the object store answer (503 without them);
                     Redis `degraded` when down (reelflow.services.health)
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from reelflow.api.security import READ
from reelflow.services import health

__all__ = ["router"]

router = APIRouter()


@router.get("/healthz", dependencies=[READ])
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/readyz", dependencies=[READ], responses={503: {"description": "Not ready"}})
def readyz() -> JSONResponse:
    """The database and S3 answer (not ready without them); Redis is `degraded` when
    down: URLs are still signed, only not shared between processes."""
    found = health.readiness()
    body = {"status": "ready" if found.ready else "not ready", "checks": found.checks}
    return JSONResponse(body, status_code=200 if found.ready else 503)

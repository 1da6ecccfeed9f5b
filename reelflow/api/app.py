"""`reelflow serve`: the HTTP API apps call (FastAPI), apart from the Prefect server.

    POST   /api/v1/imports                  write  a manifest in; 202, the run id, Location
    GET    /api/v1/imports/{run_id}         read   state, counts, per-asset status and errors
    GET    /api/v1/imports/{run_id}/events  read   its progress live (SSE; also a WebSocket)
    GET    /api/v1/upload-queue/status      read   the seed's queue shape, from Prefect + the DB
    GET    /api/v1/movies/{id}/media        read   per episode: renditions, placeholder, video
    DELETE /api/v1/movies/{id}              write  202 with the purge run; again: 404
    GET    /healthz, /readyz                read   alive; database and S3 answer (Redis: degraded)
    GET    /                                read   a page showing an import's progress
    GET    /files/{bucket}/{key}            signed the disk store's objects (no token)

One router per resource (imports, live, queue, movies, health, page, files); `create_app`
only assembles them. Handlers call reelflow.services (and deployments, to submit runs).
Every endpoint but /files needs a bearer token (reelflow.api.security); errors are problem
details (reelflow.api.problems). Handlers are plain functions where they block: FastAPI runs
them in its thread pool, so the blocking clients (SQLAlchemy, boto3, Prefect's sync client)
never stall the loop.
"""

from __future__ import annotations

from fastapi import FastAPI

from reelflow.api import files, health, imports, live, movies, openapi, page, queue
from reelflow.api.problems import install
from reelflow.api.security import BodyLimit
from reelflow.settings import get_settings

__all__ = ["create_app"]

ROUTERS = (
    imports.router,
    live.router,
    queue.router,
    movies.router,
    page.router,
    health.router,
    files.router,
)


def create_app(*, insecure: bool = False) -> FastAPI:
    """The API; `insecure` lets every call through without a token (`--insecure-local`)."""
    app = FastAPI(
        title="reelflow",
        version="1",
        description="Import episode media into S3 and serve its URLs. Every call needs "
        "`Authorization: Bearer <token>`; errors are RFC 9457 problem details.",
        responses=openapi.ERRORS,
    )
    app.state.insecure = insecure  # read by reelflow.api.security
    install(app)
    app.add_middleware(BodyLimit, max_bytes=int(get_settings().api_max_body_mb * 2**20))
    for router in ROUTERS:
        app.include_router(router)
    openapi.complete(app)
    return app

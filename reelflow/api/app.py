"""`reelflow serve`: the HTTP API apps call (FastAPI), apart from the Prefect server.

    POST   /api/v1/imports                  write  a manifest in; 202, the run id, Location
    GET    /api/v1/imports/{run_id}         read   state, counts, per-asset status and errors
    GET    /api/v1/upload-queue/status      read   the seed's queue shape, from Prefect + the DB
    GET    /api/v1/movies/{id}/media        read   per episode: renditions, placeholder, video
    DELETE /api/v1/movies/{id}              write  202 with the purge run; again: 404
    GET    /healthz, /readyz                read   alive; database and S3 answer (Redis: degraded)

Every endpoint needs a bearer token (reelflow.core.auth); errors are problem details
(reelflow.api.problems). Handlers are plain functions: FastAPI runs them in its thread pool,
so the blocking clients (SQLAlchemy, boto3, Prefect's sync client) never stall the loop.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

from anyio import CapacityLimiter, to_thread
from fastapi import (
    Depends,
    FastAPI,
    Header,
    Query,
    Request,
    Response,
    WebSocket,
    WebSocketDisconnect,
)
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from reelflow.api.problems import PROBLEM_TYPE, Problem, install
from reelflow.api.security import BodyLimit, require
from reelflow.core.errors import MovieNotFound
from reelflow.core.manifest import Manifest
from reelflow.settings import Settings, get_settings

__all__ = ["create_app"]

API = "/api/v1"
_PROBLEM = {"content": {PROBLEM_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "The body is not JSON", **_PROBLEM},
    401: {"description": "No token, or an unknown one", **_PROBLEM},
    403: {"description": "The token lacks the scope", **_PROBLEM},
    404: {"description": "No such movie or run", **_PROBLEM},
    413: {"description": "The body is over REELFLOW_API_MAX_BODY_MB", **_PROBLEM},
    422: {"description": "Invalid parameters or body", **_PROBLEM},
    503: {"description": "A service reelflow needs is down", **_PROBLEM},
}


class ProblemModel(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None


class Submitted(BaseModel):
    run_id: str
    movie_id: str
    new: bool = Field(description="False when this manifest had been submitted before")
    status_url: str


class AssetState(BaseModel):
    episode: int
    kind: str
    status: str
    attempts: int
    error: str | None


class ImportStatus(BaseModel):
    run_id: str
    movie_id: str
    state: str | None
    state_type: str | None
    message: str
    counts: dict[str, int]
    assets: list[AssetState]
    next_offset: int | None


class QueueJob(BaseModel):
    id: str
    status: str
    retries: int
    movie_id: str | None


class QueueStatus(BaseModel):
    queueLength: int  # noqa: N815 (the seed's field names)
    processing: int
    jobs: list[QueueJob]
    assets: dict[str, int]


class Deleted(BaseModel):
    movie_id: str
    purge_run_id: str | None
    handoff: str
    objects: int


def _settings() -> Settings:
    return get_settings()


def _page_size(request: Request, limit: int) -> int:
    cap = get_settings().api_max_page_size
    if limit > cap:
        raise Problem(422, "invalid-request", f"limit {limit} is over the page-size cap {cap}")
    return limit


def create_app(*, insecure: bool = False) -> FastAPI:
    """The API; `insecure` lets every call through without a token (`--insecure-local`)."""
    app = FastAPI(
        title="reelflow",
        version="1",
        description="Import episode media into S3 and serve its URLs. Every call needs "
        "`Authorization: Bearer <token>`; errors are RFC 9457 problem details.",
        responses=_ERRORS,
    )
    install(app)
    settings = get_settings()
    app.add_middleware(BodyLimit, max_bytes=int(settings.api_max_body_mb * 2**20))
    read = Depends(require("read", insecure=insecure))
    write = Depends(require("write", insecure=insecure))

    @app.post(
        f"{API}/imports",
        status_code=202,
        dependencies=[write],
        response_model=Submitted,
    )
    def submit_import(manifest: Manifest, response: Response) -> Submitted:
        """Queue an import of `manifest`; the same manifest twice gives the same run."""
        from deployments.submit import submit_run

        done = submit_run(manifest)
        run_id = str(done.run.id)
        location = f"{API}/imports/{run_id}"
        response.headers["Location"] = location
        return Submitted(
            run_id=run_id, movie_id=manifest.movie_id, new=done.new, status_url=location
        )

    @app.get(f"{API}/imports/{{run_id}}", dependencies=[read], response_model=ImportStatus)
    def import_status(
        request: Request,
        run_id: UUID,
        limit: Annotated[int, Query(ge=1)] = 100,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    ) -> ImportStatus:
        """The run's state, the counts of its movie's assets, and a page of them."""
        from reelflow.adapters.db import catalog
        from reelflow.api import runs
        from reelflow.services import resources

        limit = _page_size(request, limit)
        run = runs.import_run(run_id)
        rows, counts = catalog.movie_assets(
            resources.engine(), run.movie_id, limit=limit, offset=offset
        )
        total = sum(counts.values())
        return ImportStatus(
            run_id=str(run_id),
            movie_id=run.movie_id,
            state=run.state,
            state_type=run.state_type,
            message=run.message,
            counts=counts,
            assets=[
                AssetState(
                    episode=r.number,
                    kind=r.kind,
                    status=r.status,
                    attempts=r.attempts,
                    error=r.last_error,
                )
                for r in rows
            ],
            next_offset=offset + limit if offset + limit < total else None,
        )

    @app.get(
        f"{API}/imports/{{run_id}}/events",
        dependencies=[read],
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
    )
    def import_events(
        run_id: UUID,
        last_event_id: Annotated[str | None, Header(max_length=64)] = None,
    ) -> StreamingResponse:
        """Server-Sent Events: `started`, `progress` (each with the assets finished since the
        one before), then `finished`. Reconnect with `Last-Event-ID` to resume."""
        from reelflow.api import live, runs

        runs.import_run(run_id)  # 404 before the stream starts
        return StreamingResponse(
            live.sse(run_id, last_event_id),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @app.websocket(f"{API}/imports/{{run_id}}/ws")
    async def import_socket(
        websocket: WebSocket, run_id: UUID, last_event_id: str | None = None
    ) -> None:
        """The same events as JSON messages {id, event, data}; `?last_event_id=` resumes.
        The token goes in the handshake's Authorization header."""
        from anyio import to_thread

        from reelflow.api import live, runs
        from reelflow.core.auth import authorize

        verdict = authorize(
            websocket.headers.get("authorization"), get_settings().api_token_list(), "read"
        )
        if verdict != "ok" and not insecure:
            await websocket.close(code=1008, reason="a token with the read scope is needed")
            return
        try:
            await to_thread.run_sync(runs.import_run, run_id)
        except Problem as exc:
            await websocket.close(code=1008, reason=exc.detail[:120])
            return
        await websocket.accept()
        try:
            async for event in live.events(run_id, last_event_id):
                if event.event == "keepalive":
                    continue
                await websocket.send_json(
                    {"id": event.id, "event": event.event, "data": event.data}
                )
            await websocket.close(code=1000)
        except WebSocketDisconnect:
            return

    @app.get(f"{API}/upload-queue/status", dependencies=[read], response_model=QueueStatus)
    def queue_status(request: Request, limit: Annotated[int, Query(ge=1)] = 100) -> QueueStatus:
        """The spec's shape: import runs waiting and running, and the assets by status."""
        from reelflow.adapters.db import catalog
        from reelflow.api import runs
        from reelflow.services import resources

        jobs = runs.queue(_page_size(request, limit))
        return QueueStatus(
            queueLength=sum(1 for j in jobs if j.status == "queued"),
            processing=sum(1 for j in jobs if j.status == "processing"),
            jobs=[
                QueueJob(id=j.id, status=j.status, retries=j.retries, movie_id=j.movie_id)
                for j in jobs
            ],
            assets=catalog.asset_counts(resources.engine()),
        )

    # Media pages are CPU work in Python once their URLs are cached: a few threads at a time
    # keep the GIL from being passed around 40 of them (16 clients: 1.7x the throughput).
    page_threads = CapacityLimiter(settings.api_page_threads)

    @app.get(f"{API}/movies/{{movie_id}}/media", dependencies=[read])
    async def movie_media(
        request: Request,
        movie_id: Annotated[str, Depends(_movie_id)],
        limit: Annotated[int, Query(ge=1)] = 100,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    ) -> Response:
        """A page of the movie's episodes as an app renders them: every rendition's URL with
        its size, the placeholder, the preview's clip and length. Temporary URLs are passed
        through until an asset is stored. One cache round trip for the page."""
        limit = _page_size(request, limit)
        body = await to_thread.run_sync(_media_page, movie_id, limit, offset, limiter=page_threads)
        return Response(body, media_type="application/json")

    @app.delete(
        f"{API}/movies/{{movie_id}}",
        status_code=202,
        dependencies=[write],
        response_model=Deleted,
    )
    def delete_movie(movie_id: Annotated[str, Depends(_movie_id)]) -> Deleted:
        """Delete the movie's rows now and purge its objects in a purge-objects run. A second
        DELETE finds no movie: 404."""
        from deployments.launch import PrefectPurgeLauncher
        from reelflow.services.movies import delete_movie as delete

        done = delete(movie_id, launcher=PrefectPurgeLauncher(), fallback="queue")
        return Deleted(
            movie_id=movie_id,
            purge_run_id=done.flow_run_id,
            handoff=done.handoff,
            objects=len(done.queued),
        )

    @app.get("/", dependencies=[read], response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        """A page that shows an import's progress live (?run=<run id>). A browser signs in
        with Basic credentials whose password is a read token (the prompt comes by itself)."""
        return HTMLResponse(
            (Path(__file__).parent / "static" / "index.html").read_text(encoding="utf-8"),
            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
        )

    @app.get("/healthz", dependencies=[read])
    def healthz() -> dict[str, str]:
        """The process answers."""
        return {"status": "ok"}

    @app.get("/readyz", dependencies=[read], responses={503: {"description": "Not ready"}})
    def readyz() -> JSONResponse:
        """The database and S3 answer (not ready without them); Redis is `degraded` when
        down: URLs are still signed, only not shared between processes."""
        from reelflow.api import runs

        checks = runs.readiness()
        ready = checks["database"] == "ok" and checks["s3"] == "ok"
        body = {"status": "ready" if ready else "not ready", "checks": checks}
        return JSONResponse(body, status_code=200 if ready else 503)

    app.openapi_schema = None
    _add_problem_schema(app)
    return app


def _media_page(movie_id: str, limit: int, offset: int) -> bytes:
    from reelflow.adapters.db import catalog
    from reelflow.services import resources, urls

    episodes = urls.episode_media(movie_id, limit=limit, offset=offset)
    if not episodes and not catalog.movie_exists(resources.engine(), movie_id):
        raise MovieNotFound(f"movie {movie_id!r} does not exist")
    body = {
        "movie_id": movie_id,
        "episodes": episodes,
        "next_offset": offset + limit if len(episodes) == limit else None,
    }
    # Plain JSON types already: serialized once, without FastAPI's encoder walking the page
    # (it was half of the HTTP layer's cost; `reelflow bench api`).
    return json.dumps(body, separators=(",", ":")).encode()


def _movie_id(movie_id: str) -> str:
    from reelflow.core.errors import InvalidKey
    from reelflow.core.keys import safe_movie_id

    try:
        return safe_movie_id(movie_id)
    except InvalidKey as exc:
        raise Problem(422, "invalid-request", str(exc)) from None


def _add_problem_schema(app: FastAPI) -> None:
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = base()
            components = schema.setdefault("components", {})
            components.setdefault("schemas", {})["Problem"] = ProblemModel.model_json_schema()
            components["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer", "description": "REELFLOW_API_TOKENS"}
            }
            schema["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

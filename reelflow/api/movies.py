"""Movies: the media an app shows, and deleting a movie.

GET    /api/v1/movies/{id}/media   read   per episode: renditions, placeholder, video
DELETE /api/v1/movies/{id}         write  202 with the purge run; again: 404
"""

from __future__ import annotations

import json
from typing import Annotated

from anyio import CapacityLimiter, to_thread
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from reelflow.api.params import API, page_size, valid_movie_id
from reelflow.api.security import READ, WRITE
from reelflow.services import movies
from reelflow.services.movies import PurgeLauncher
from reelflow.settings import get_settings

__all__ = ["router"]

router = APIRouter(prefix=API)


class Deleted(BaseModel):
    movie_id: str
    purge_run_id: str | None
    handoff: str
    objects: int


async def page_threads(request: Request) -> CapacityLimiter:
    """The app's threads for media pages (REELFLOW_API_PAGE_THREADS), made on first use. A
    page is CPU work in Python once its URLs are cached: a few threads at a time keep the GIL
    from being passed around 40 of them (16 clients: 1.7x the throughput)."""
    state = request.app.state
    if getattr(state, "page_threads", None) is None:
        state.page_threads = CapacityLimiter(get_settings().api_page_threads)
    limiter: CapacityLimiter = state.page_threads
    return limiter


def purge_launcher() -> PurgeLauncher:
    """deployments.launch.PrefectPurgeLauncher, imported on the first delete: Prefect and the
    purge flow take seconds to import, which the API's start-up should not pay."""
    from deployments.launch import PrefectPurgeLauncher

    return PrefectPurgeLauncher()


def _media_page(movie: str, limit: int, offset: int) -> bytes:
    episodes = movies.media_page(movie, limit=limit, offset=offset)
    body = {
        "movie_id": movie,
        "episodes": episodes,
        "next_offset": offset + limit if len(episodes) == limit else None,
    }
    # Plain JSON types already: serialized once, without FastAPI's encoder walking the page
    # (it was half of the HTTP layer's cost; `reelflow bench api`).
    return json.dumps(body, separators=(",", ":")).encode()


@router.get("/movies/{movie_id}/media", dependencies=[READ])
async def movie_media(
    movie_id: Annotated[str, Depends(valid_movie_id)],
    threads: Annotated[CapacityLimiter, Depends(page_threads)],
    limit: Annotated[int, Query(ge=1)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    """A page of the movie's episodes as an app renders them: every rendition's URL with
    its size, the placeholder, the preview's clip and length. Temporary URLs are passed
    through until an asset is stored. One cache round trip for the page."""
    limit = page_size(limit)
    body = await to_thread.run_sync(_media_page, movie_id, limit, offset, limiter=threads)
    return Response(body, media_type="application/json")


@router.delete("/movies/{movie_id}", status_code=202, dependencies=[WRITE], response_model=Deleted)
def delete_movie(
    movie_id: Annotated[str, Depends(valid_movie_id)],
    launcher: Annotated[PurgeLauncher, Depends(purge_launcher)],
) -> Deleted:
    """Delete the movie's rows now and purge its objects in a purge-objects run. A second
    DELETE finds no movie: 404."""
    done = movies.delete_movie(movie_id, launcher=launcher, fallback="queue")
    return Deleted(
        movie_id=movie_id,
        purge_run_id=done.flow_run_id,
        handoff=done.handoff,
        objects=len(done.queued),
    )

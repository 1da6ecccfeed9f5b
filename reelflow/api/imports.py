"""Imports: submit a manifest, and read a run's state with a page of its assets.

    POST /api/v1/imports            write  a manifest in; 202, the run id, Location
    GET  /api/v1/imports/{run_id}   read   state, counts, per-asset status and errors

Their progress as it happens is reelflow.api.live.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from reelflow.api.params import API, page_size
from reelflow.api.security import READ, WRITE
from reelflow.core.manifest import Manifest
from reelflow.services import imports

__all__ = ["router"]

router = APIRouter(prefix=API)


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


def submitter() -> Callable[[Manifest], Any]:
    """deployments.submit.submit_run, imported on the first submit: Prefect takes seconds to
    import, which neither the API's start-up nor its calls without Prefect should pay."""
    from deployments.submit import submit_run

    return submit_run


@router.post("/imports", status_code=202, dependencies=[WRITE], response_model=Submitted)
def submit_import(
    manifest: Manifest,
    response: Response,
    submit: Annotated[Callable[[Manifest], Any], Depends(submitter)],
) -> Submitted:
    """Queue an import of `manifest`; the same manifest twice gives the same run."""
    done = submit(manifest)
    run_id = str(done.run.id)
    location = f"{API}/imports/{run_id}"
    response.headers["Location"] = location
    return Submitted(run_id=run_id, movie_id=manifest.movie_id, new=done.new, status_url=location)


@router.get("/imports/{run_id}", dependencies=[READ], response_model=ImportStatus)
def import_status(
    run_id: UUID,
    limit: Annotated[int, Query(ge=1)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> ImportStatus:
    """The run's state, the counts of its movie's assets, and a page of them."""
    limit = page_size(limit)
    found = imports.import_status(run_id, limit=limit, offset=offset)
    run, total = found.run, sum(found.counts.values())
    return ImportStatus(
        run_id=str(run_id),
        movie_id=run.movie_id,
        state=run.state,
        state_type=run.state_type,
        message=run.message,
        counts=found.counts,
        assets=[
            AssetState(
                episode=r.number,
                kind=r.kind,
                status=r.status,
                attempts=r.attempts,
                error=r.last_error,
            )
            for r in found.assets
        ],
        next_offset=offset + limit if offset + limit < total else None,
    )

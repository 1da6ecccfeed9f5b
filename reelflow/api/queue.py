"""The upload queue in the seed's shape.

GET /api/v1/upload-queue/status   read  import runs waiting and running (Prefect), and
                                        every asset by status (the database)
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from reelflow.api.params import API, page_size
from reelflow.api.security import READ
from reelflow.services import imports

__all__ = ["router"]

router = APIRouter(prefix=API)


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


@router.get("/upload-queue/status", dependencies=[READ], response_model=QueueStatus)
def queue_status(limit: Annotated[int, Query(ge=1)] = 100) -> QueueStatus:
    """The spec's shape: import runs waiting and running, and the assets by status."""
    found = imports.queue_status(page_size(limit))
    jobs = found.jobs
    return QueueStatus(
        queueLength=sum(1 for j in jobs if j.status == "queued"),
        processing=sum(1 for j in jobs if j.status == "processing"),
        jobs=[
            QueueJob(id=j.id, status=j.status, retries=j.retries, movie_id=j.movie_id) for j in jobs
        ],
        assets=found.assets,
    )

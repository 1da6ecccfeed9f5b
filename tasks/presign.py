"""Tasks of the presign warmup: read the URLs to warm (DB), warm one batch (cache + signing)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from prefect import task
from prefect.cache_policies import NONE

from reelflow.adapters.db import catalog
from reelflow.services import resources, urls
from reelflow.settings import get_settings
from tasks.retry import io_task


@dataclass(frozen=True)
class BatchCounts:
    urls: int
    signed: int
    cached: int
    seconds: float


@io_task("read-warm-urls")
def read_warm_urls(top: int) -> list[str]:
    """The s3:// URLs of the `top` most recently updated movies' episodes (one query)."""
    rungs = [rung.name for rung in get_settings().image_ladder().rungs]
    return catalog.recent_stored_urls(resources.engine(), top, rungs)


@task(name="warm-urls", cache_policy=NONE)
def warm_urls(batch: list[str], refresh_within: float = 0.0) -> BatchCounts:
    """Resolve one batch through the cache: one MGET, sign what is missing (or would go stale
    within `refresh_within` seconds), one pipelined write."""
    started = time.perf_counter()
    result = urls.resolver().resolve(batch, min_fresh=refresh_within)
    return BatchCounts(
        urls=len(batch),
        signed=result.signed,
        cached=result.cached,
        seconds=time.perf_counter() - started,
    )

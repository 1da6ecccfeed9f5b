"""presign-warmup: sign the URLs an app is about to ask for, before it asks.

1. read the s3:// URLs of the most recently updated movies' episodes (one query);
2. resolve them in batches through the URL cache: each batch is one Redis MGET, local signing
   of what is missing or about to go stale, and one pipelined write;
3. report URLs, signed, already cached, batches and seconds (a markdown artifact).

It warms Redis, which every process of the app shares; with USE_REDIS off it could only warm
its own process's memory, and with CDN_URL set there is nothing to sign. Runs by hand for now
(`reelflow warmup`); a schedule slightly shorter than the cache TTL keeps hot pages warm.
"""

from __future__ import annotations

import time

from prefect import flow, get_run_logger
from prefect.client.schemas.objects import State
from pydantic import BaseModel, ConfigDict, Field

from flows.common.naming import warmup_name
from flows.common.reporting import finish, publish
from reelflow.core.reports import WarmupReport
from reelflow.settings import get_settings
from tasks.presign import read_warm_urls, warm_urls
from tasks.retry import apply_retry_policy

__all__ = ["WarmupReport", "WarmupRequest", "presign_warmup"]


class WarmupRequest(BaseModel):
    """What to warm; every field has a safe default (the UI renders this as a form)."""

    model_config = ConfigDict(frozen=True)

    top: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="Movies to warm, most recently updated first "
        "(default: REELFLOW_WARMUP_TOP_MOVIES)",
    )
    batch_size: int = Field(default=100, ge=1, le=1000, description="URLs per cache round trip")
    refresh_within: int = Field(
        default=600,
        ge=0,
        description="Also re-sign cached URLs that would go stale within this many seconds",
    )


@flow(name="presign-warmup", flow_run_name=warmup_name, validate_parameters=True)
def presign_warmup(request: WarmupRequest = WarmupRequest()) -> State[WarmupReport]:
    """Presign and cache the URLs of the most recently updated movies' episodes."""
    started = time.monotonic()
    settings = get_settings()
    apply_retry_policy(settings)
    logger = get_run_logger()
    top = request.top or settings.warmup_top_movies
    mode = "cdn" if settings.cdn_url else "redis" if settings.use_redis else "memory only"
    counts = []
    if mode == "cdn":
        logger.info("CDN_URL is set: URLs are not signed, nothing to warm")
    else:
        if mode == "memory only":
            logger.warning("USE_REDIS is off: this warms only this process's memory")
        found = read_warm_urls(top)
        size = request.batch_size
        for start in range(0, len(found), size):
            counts.append(warm_urls(found[start : start + size], request.refresh_within))
    report = WarmupReport(
        top_movies=top,
        urls=sum(c.urls for c in counts),
        signed=sum(c.signed for c in counts),
        cached=sum(c.cached for c in counts),
        batches=len(counts),
        seconds=round(time.monotonic() - started, 3),
        mode=mode,
    )
    publish("presign-warmup", "Presign warm-up", report.headline(), [report.counts()])
    return finish(report)

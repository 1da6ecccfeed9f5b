"""`reelflow bench presign`: a page of presigned URLs four ways, with a same-run baseline.

Figures (one JSON line, last), each for one page of `page_size` URLs (default 100), in ms,
p50 and p99 over `pages` pages:
  boto3_ms   generate_presigned_url for each key: the baseline
  cold_ms    the cache, every key new: one MGET (all miss), local signing, one pipelined SET EX
  warm_ms    every key in the in-process tier
  redis_ms   every key in Redis, in-process tier off (what another process's first page costs)
  *_vs_boto3 p50 ratios against the baseline; goals: warm < 1 ms, redis < 2 ms, cold <= 1.1 x
  boto3 (all p50)

No S3 server is needed: signing is local (dummy credentials; nothing listens on the endpoint).
Redis comes from settings (REDIS_HOST, REDIS_PORT, ...; default localhost:6379) and is used
under a key prefix of the benchmark's own, deleted afterwards.
"""

from __future__ import annotations

import gc
import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Annotated, Any

import typer

__all__ = ["register"]


def _page(size: int, tag: str) -> list[str]:
    return [f"episode-thumbnails/{tag}/ep{n}_thumb.webp" for n in range(size)]


def _series(pages: int, run: Callable[[int], Any]) -> list[float]:
    """Milliseconds of run(i) for i in range(pages), after two untimed warm-up calls."""
    run(-1)
    run(-2)
    gc.collect()
    times = []
    for i in range(pages):
        started = time.perf_counter_ns()
        run(i)
        times.append((time.perf_counter_ns() - started) / 1e6)
    return times


def _p(times: list[float], q: int) -> float:
    return round(statistics.quantiles(times, n=100, method="inclusive")[q - 1], 4)


def _bench_settings(prefix: str) -> Any:
    from pydantic import SecretStr

    from reelflow.settings import get_settings

    return get_settings().model_copy(
        update={
            "s3_endpoint": "http://127.0.0.1:9",
            "s3_access_key_id": SecretStr("bench-access"),
            "s3_secret_access_key": SecretStr("bench-secret"),
            "s3_bucket_name": "bench",
            "cdn_url": None,
            "use_redis": True,
            "redis_key_prefix": prefix,
        }
    )


def run_bench(pages: int, page_size: int, say: Callable[..., None]) -> dict[str, Any]:
    import redis

    from reelflow.adapters.redis_cache import make_client
    from reelflow.adapters.storage.s3_client import make_s3_client
    from reelflow.services.urls import UrlResolver

    settings = _bench_settings(f"reelflow-bench:{uuid.uuid4().hex[:8]}:")
    admin = make_client(settings.model_copy(update={"redis_timeout": 5.0}))
    where = f"{settings.redis_host}:{settings.redis_port}/{settings.redis_db}"
    try:
        admin.ping()
    except (redis.RedisError, OSError) as exc:
        raise RuntimeError(f"Redis at {where} does not answer: {type(exc).__name__}") from exc

    client = make_s3_client(settings)
    resolver = UrlResolver(settings)
    redis_only = UrlResolver(settings.model_copy(update={"presign_local_size": 0}))
    checks: list[str] = []
    try:
        say(f"boto3 generate_presigned_url: {pages} pages of {page_size}")

        def boto3_page(i: int) -> None:
            for key in _page(page_size, f"boto{i}"):
                client.generate_presigned_url(
                    "get_object",
                    Params={"Bucket": "bench", "Key": key},
                    ExpiresIn=settings.presign_expiry,
                )

        boto3_ms = _series(pages, boto3_page)

        say("cold cache (MGET miss + sign + pipelined SET EX)")
        cold_pages = {i: _page(page_size, f"cold{i}") for i in range(-2, pages)}

        def cold_page(i: int) -> None:
            if resolver.resolve(cold_pages[i]).signed != page_size:
                checks.append(f"cold page {i} was not all signed")

        cold_ms = _series(pages, cold_page)

        hot = _page(page_size, "hot")
        resolver.resolve(hot)  # now in both tiers
        say("warm in-process tier")

        def warm_page(i: int) -> None:
            if resolver.resolve(hot).local_hits != page_size:
                checks.append(f"warm page {i} missed the in-process tier")

        warm_ms = _series(pages, warm_page)

        say("warm Redis only (in-process tier off)")

        def redis_page(i: int) -> None:
            if redis_only.resolve(hot).redis_hits != page_size:
                checks.append(f"redis page {i} missed Redis")

        redis_ms = _series(pages, redis_page)
        breaker = resolver.redis.breaker.stats()
        if breaker.failures or redis_only.redis.breaker.stats().failures:
            checks.append("Redis failed during the run: its figures are not meaningful")
    finally:
        resolver.close()
        redis_only.close()
        names = list(admin.scan_iter(match=f"{settings.redis_key_prefix}*", count=1000))
        for start in range(0, len(names), 1000):
            admin.delete(*names[start : start + 1000])
        admin.close()

    figures: dict[str, Any] = {"bench": "presign", "page_size": page_size, "pages": pages}
    for name, times in (
        ("boto3", boto3_ms),
        ("cold", cold_ms),
        ("warm", warm_ms),
        ("redis", redis_ms),
    ):
        figures[f"{name}_ms_p50"] = _p(times, 50)
        figures[f"{name}_ms_p99"] = _p(times, 99)
    base = figures["boto3_ms_p50"]
    for name in ("cold", "warm", "redis"):
        figures[f"{name}_vs_boto3"] = round(figures[f"{name}_ms_p50"] / base, 4)
    figures["goals"] = {
        "warm_p50_under_1ms": figures["warm_ms_p50"] < 1.0,
        "redis_p50_under_2ms": figures["redis_ms_p50"] < 2.0,
        "cold_p50_within_10pct_of_boto3": figures["cold_ms_p50"] <= 1.1 * base,
    }
    figures["checks"] = checks[:5] or "ok"
    figures["redis"] = where
    return figures


def register(bench_app: typer.Typer) -> None:
    @bench_app.command("presign")
    def bench_presign(
        pages: Annotated[int, typer.Option(min=10, help="Pages timed per series")] = 300,
        page_size: Annotated[int, typer.Option(min=1, max=1000, help="URLs per page")] = 100,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Presigned URLs for a page: boto3 directly vs the cache cold, warm and Redis-only."""
        say = (lambda *a: print(*a, file=sys.stderr)) if as_json else print
        try:
            figures = run_bench(pages, page_size, say)
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise typer.Exit(2) from None
        if not as_json:
            for name in ("boto3", "cold", "warm", "redis"):
                ratio = figures.get(f"{name}_vs_boto3", 1.0)
                say(
                    f"{name:>6}: p50 {figures[f'{name}_ms_p50']:8.3f} ms  "
                    f"p99 {figures[f'{name}_ms_p99']:8.3f} ms  ({ratio:.3f} x boto3)"
                )
        print(json.dumps(figures))

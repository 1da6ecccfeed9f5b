"""`reelflow bench api`: GET /api/v1/movies/{id}/media for a 20-episode movie, warm cache.

In the same run:
  direct    `episode_media(movie)` called in this process, one at a time: the baseline
  http_1    the same page over HTTP from one client, one request at a time (`reelflow serve`
            in its own process, uvicorn, one worker), alternated with `direct` in 8 rounds:
            the median round's p50 difference is the HTTP layer's cost
  http_16   16 concurrent clients (aiohttp, keep-alive connections): p50, p99, requests/s
  http_16_2_workers   the same against `reelflow serve --workers 2`

The movie is written straight into a throwaway SQLite database (20 episodes, 3 thumbnail
rungs and a preview each); no S3 server is needed (signing is local). The URL cache is warm:
the in-process tier of the server holds every URL after the first requests.
Goals: http_16 p99 < 10 ms; http_1 p50 - direct p50 < 2 ms.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["register"]

MOVIE = "bench-api"
TOKEN = "bench-" + "t" * 26


def _seed(database_url: str, episodes: int) -> None:
    from sqlalchemy import insert

    from reelflow.adapters.db import migrate
    from reelflow.adapters.db.engine import make_engine
    from reelflow.adapters.db.schema import Asset, Episode, Movie, RenditionRow

    engine = make_engine(database_url)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(insert(Movie).values(id=MOVIE, title="Bench"))
        for n in range(1, episodes + 1):
            thumb = f"episode-thumbnails/{MOVIE}/ep{n}_thumb-large-{n:010x}.webp"
            preview = f"episode-previews/{MOVIE}/ep{n}_preview.webm"
            episode_id = conn.execute(
                insert(Episode).values(
                    movie_id=MOVIE,
                    number=n,
                    title=f"Episode {n}",
                    thumbnail_url=f"s3://bench/{thumb}",
                    video_preview_url=f"s3://bench/{preview}",
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            for kind, key in (("thumbnail", thumb), ("preview", preview)):
                asset_id = conn.execute(
                    insert(Asset).values(
                        episode_id=episode_id,
                        kind=kind,
                        status="stored",
                        bucket="bench",
                        key=key,
                        content_type="image/webp" if kind == "thumbnail" else "video/webm",
                        width=1280 if kind == "thumbnail" else 640,
                        height=720 if kind == "thumbnail" else 360,
                        bytes=1000,
                        sha256="0" * 64,
                        attempts=1,
                        thumbhash="2lgGFIZvm9jEf2XNulpwIeX96A" if kind == "thumbnail" else None,
                        dominant_color="#895b59" if kind == "thumbnail" else None,
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
                if kind != "thumbnail":
                    continue
                for rung, (w, h) in (
                    ("large", (1280, 720)),
                    ("medium", (640, 360)),
                    ("small", (320, 180)),
                ):
                    conn.execute(
                        insert(RenditionRow).values(
                            asset_id=asset_id,
                            rung=rung,
                            format="webp",
                            bucket="bench",
                            key=key.replace("-large-", f"-{rung}-"),
                            content_type="image/webp",
                            width=w,
                            height=h,
                            bytes=1000,
                            sha256="0" * 64,
                            spec_digest="0" * 16,
                        )
                    )
    engine.dispose()


def _percentiles(times: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    return {"p50_ms": round(cuts[49], 3), "p99_ms": round(cuts[98], 3)}


def _direct(requests: int) -> list[float]:
    from reelflow.services.urls import episode_media

    for _ in range(20):
        episode_media(MOVIE, limit=100)
    times = []
    for _ in range(requests):
        started = time.perf_counter_ns()
        episode_media(MOVIE, limit=100)
        times.append((time.perf_counter_ns() - started) / 1e6)
    return times


def _interleaved(base: str, requests: int, rounds: int) -> dict[str, Any]:
    """The direct call and one HTTP client, alternated in `rounds` so that both see the same
    machine (these VMs' speed drifts by 2x within a minute): each round's p50 difference is
    the HTTP layer's cost in that round; the median round is reported."""
    direct: list[float] = []
    http: list[float] = []
    layer: list[float] = []
    rps: list[float] = []
    for _ in range(rounds):
        d = _direct(requests // rounds)
        h = _http(base, 1, requests // rounds, raw=True)
        direct += d
        http += h["times"]
        rps.append(h["requests_per_s"])
        layer.append(statistics.median(h["times"]) - statistics.median(d))
    return {
        "direct": _percentiles(direct),
        "http_1": {**_percentiles(http), "requests_per_s": round(statistics.median(rps), 1)},
        "http_layer_p50_ms": round(statistics.median(layer), 3),
        "http_layer_rounds_ms": [round(x, 3) for x in sorted(layer)],
    }


def _http(base: str, clients: int, requests: int, *, raw: bool = False) -> dict[str, Any]:
    """`clients` closed-loop clients, each with its keep-alive connection, in one asyncio loop
    (aiohttp): a client that costs little CPU, since it shares this machine's cores with the
    server it measures."""
    import asyncio

    import aiohttp

    url = f"{base}/api/v1/movies/{MOVIE}/media"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    per_client = requests // clients

    async def client_loop(times: list[float]) -> None:
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(headers=headers, connector=connector) as session:
            for _ in range(5):
                async with session.get(url) as response:
                    response.raise_for_status()
                    await response.read()
            for _ in range(per_client):
                started = time.perf_counter_ns()
                async with session.get(url) as response:
                    response.raise_for_status()
                    await response.read()
                times.append((time.perf_counter_ns() - started) / 1e6)

    async def main() -> tuple[list[float], float]:
        times: list[float] = []
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(times) for _ in range(clients)))
        return times, time.perf_counter() - started

    times, took = asyncio.run(main())
    rate = round(len(times) / took, 1)
    return (
        {"times": times, "requests_per_s": rate}
        if raw
        else {
            **_percentiles(times),
            "requests_per_s": rate,
        }
    )


def _serve(env: dict[str, str], workers: int) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    from reelflow.devtools.s3server import free_port

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "reelflow.cli.main", "serve", "--port", str(port)]
        + ["--workers", str(workers)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{base}/healthz", headers={"Authorization": f"Bearer {TOKEN}"})
            return server, base
        except httpx.TransportError:
            if time.monotonic() > deadline or server.poll() is not None:
                _stop(server)
                raise RuntimeError("reelflow serve did not start") from None
            time.sleep(0.2)


def _stop(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's own process group (uvicorn's workers with it), then SIGKILL."""
    import signal

    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
    except ProcessLookupError:
        server.wait()


def run(episodes: int, requests: int) -> dict[str, Any]:
    from reelflow.settings import reset_settings

    with tempfile.TemporaryDirectory(prefix="reelflow-bench-api-") as tmp:
        database_url = f"sqlite:///{Path(tmp) / 'api.db'}"
        env = {
            "DATABASE_URL": database_url,
            "S3_ENDPOINT": "http://127.0.0.1:1",  # never contacted: signing is local
            "S3_ACCESS_KEY_ID": "bench",
            "S3_SECRET_ACCESS_KEY": "bench-secret",
            "S3_BUCKET_NAME": "bench",
            "USE_REDIS": "false",
            "REELFLOW_API_TOKENS": f"read:{TOKEN}",
        }
        os.environ.update(env)
        reset_settings()
        _seed(database_url, episodes)
        server, base = _serve(env, workers=1)
        try:
            single = _interleaved(base, requests, rounds=8)
            many = _http(base, 16, requests)
        finally:
            _stop(server)
        server, base = _serve(env, workers=2)
        try:
            many_2 = _http(base, 16, requests)
        finally:
            _stop(server)
    return {
        "episodes": episodes,
        "requests": requests,
        **single,
        "http_16": many,
        "http_16_2_workers": many_2,
        # Little's law: 16 clients always waiting on a server that answers `rps` a second
        # spend 16/rps seconds per request, whatever the HTTP layer costs.
        "little_16_clients_ms": round(16 / many["requests_per_s"] * 1000, 2),
    }


def register(bench_app: typer.Typer) -> None:
    @bench_app.command("api")
    def bench_api(
        episodes: Annotated[int, typer.Option(help="Episodes in the movie")] = 20,
        requests: Annotated[int, typer.Option(help="Requests per measurement")] = 2000,
        as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line.")] = False,
    ) -> None:
        """GET a movie's media over HTTP (1 and 16 clients) against the direct call."""
        result = run(episodes, requests)
        typer.echo(json.dumps(result) if as_json else json.dumps(result, indent=2))

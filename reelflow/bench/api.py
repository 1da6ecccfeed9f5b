"""`reelflow bench api`: GET /api/v1/movies/{id}/media for a 20-episode movie, warm cache.

In the same run:
  direct    `episode_media(movie)` called in this process, one at a time: the baseline
  http_1    the same page over HTTP from one client, one request at a time (`reelflow serve`
            in its own process, uvicorn, one worker): its p50 minus direct's is the HTTP
            layer's cost
  http_16   16 concurrent clients (threads with keep-alive connections): p50, p99, requests/s

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
import threading
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


def _direct(requests: int) -> dict[str, Any]:
    from reelflow.services.urls import episode_media

    for _ in range(20):
        episode_media(MOVIE, limit=100)
    times = []
    for _ in range(requests):
        started = time.perf_counter_ns()
        episode_media(MOVIE, limit=100)
        times.append((time.perf_counter_ns() - started) / 1e6)
    return _percentiles(times)


def _http(base: str, clients: int, requests: int) -> dict[str, Any]:
    import httpx

    url = f"{base}/api/v1/movies/{MOVIE}/media"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    times: list[float] = []
    lock = threading.Lock()
    per_client = requests // clients

    def client_loop() -> None:
        mine = []
        with httpx.Client(headers=headers, timeout=30) as client:
            for _ in range(5):
                client.get(url).raise_for_status()
            for _ in range(per_client):
                started = time.perf_counter_ns()
                client.get(url).raise_for_status()
                mine.append((time.perf_counter_ns() - started) / 1e6)
        with lock:
            times.extend(mine)

    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    took = time.perf_counter() - started
    return {**_percentiles(times), "requests_per_s": round(len(times) / took, 1)}


def run(episodes: int, requests: int) -> dict[str, Any]:
    from reelflow.devtools.s3server import free_port
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
        direct = _direct(requests)
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "reelflow.cli.main", "serve", "--port", str(port)],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            import httpx

            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(f"{base}/healthz", headers={"Authorization": f"Bearer {TOKEN}"})
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise RuntimeError("reelflow serve did not start") from None
                    time.sleep(0.2)
            one = _http(base, 1, requests)
            many = _http(base, 16, requests)
        finally:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    return {
        "episodes": episodes,
        "requests": requests,
        "direct": direct,
        "http_1": one,
        "http_16": many,
        "http_layer_p50_ms": round(one["p50_ms"] - direct["p50_ms"], 3),
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

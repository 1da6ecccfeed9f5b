"""`reelflow bench import`: the import flow end to end against a modelled temporary CDN.

The origin models a real temporary CDN: per-request latency, per-connection bandwidth and a cap
on concurrent connections (requests beyond it wait). It runs in its own process, like S3 (moto)
does, so serving bytes does not compete with the flow for this process's GIL.

Figures (one JSON line, last):
  seconds, episodes_per_second, peak_rss_mb
  baseline_seconds: the seed's "before" (sequential download, no compression, upload),
      measured on a sample of episodes in the same run and scaled linearly (it is sequential)
  cpu_floor_seconds: compression CPU time for these images / cores
  io_floor_seconds: the origin's own limit: max(slowest asset, sum of transfer times / M)
  efficiency: max(cpu_floor, io_floor) / seconds (1.0 = the physical limit of this setup)
  submit_ms: from calling the import until every episode row exists and the work is queued
  plain_seconds / prefect_overhead (with --plain): the same work without Prefect task runs
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import resource
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

MEDIA_DIR = Path(".reelflow/bench-media")
THUMB_VARIANTS = 24
PREVIEW_VARIANTS = 3
PREVIEW_BYTES = 2_000_000


@dataclass(frozen=True)
class CdnModel:
    latency_ms: float = 100.0
    bandwidth_mb_s: float = 4.0
    connections: int = 8

    def transfer_seconds(self, size: int) -> float:
        return self.latency_ms / 1000 + size / (self.bandwidth_mb_s * 1e6)


def bench_media(media_dir: Path = MEDIA_DIR) -> tuple[list[Path], list[Path]]:
    """~330 KB photographic 1920x1080 JPEGs and ~2 MB WebM previews, generated once."""
    from reelflow.devtools.media import photo_jpeg, preview_webm

    media_dir.mkdir(parents=True, exist_ok=True)
    thumbs, previews = [], []
    for i in range(THUMB_VARIANTS):
        path = media_dir / f"thumb{i}.jpg"
        if not path.exists():
            path.write_bytes(photo_jpeg(seed=1000 + i, quality=90))
        thumbs.append(path)
    for i in range(PREVIEW_VARIANTS):
        path = media_dir / f"preview{i}.webm"
        if not path.exists():
            path.write_bytes(preview_webm(seconds=6.0, seed=2000 + i, target_bytes=PREVIEW_BYTES))
        previews.append(path)
    return thumbs, previews


def _serve(
    thumbs: list[str],
    previews: list[str],
    episodes: int,
    model: CdnModel,
    ready: Any,
    stop: Any,
    parent: int,
) -> None:
    from reelflow.adapters.lifeline import arm_in_child
    from reelflow.devtools.origin import Origin

    arm_in_child(parent)  # a killed benchmark takes its origin with it

    bodies_t = [Path(p).read_bytes() for p in thumbs]
    bodies_p = [Path(p).read_bytes() for p in previews]
    origin = Origin(
        latency_ms=model.latency_ms,
        bandwidth_bps=model.bandwidth_mb_s * 1e6,
        max_connections=model.connections,
    )
    with origin:
        for n in range(1, episodes + 1):
            origin.add(f"/e/{n}/thumb.jpg", bodies_t[n % len(bodies_t)], "image/jpeg")
            origin.add(f"/e/{n}/preview.webm", bodies_p[n % len(bodies_p)], "video/webm")
        ready.put(origin.port)
        stop.wait()


class OriginProcess:
    def __init__(self, thumbs: list[Path], previews: list[Path], episodes: int, model: CdnModel):
        ctx = mp.get_context("spawn")
        self._ready = ctx.Queue()
        self._stop = ctx.Event()
        self._proc = ctx.Process(
            target=_serve,
            args=(
                [str(p) for p in thumbs],
                [str(p) for p in previews],
                episodes,
                model,
                self._ready,
                self._stop,
                os.getpid(),
            ),
            daemon=True,
        )

    def __enter__(self) -> str:
        self._proc.start()
        port = self._ready.get(timeout=120)
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()


def manifest_for(base: str, movie_id: str, episodes: range) -> dict[str, Any]:
    return {
        "movie_id": movie_id,
        "title": "Bench",
        "episodes": [
            {
                "number": n,
                "thumbnail_url": f"{base}/e/{n}/thumb.jpg",
                "video_preview_url": f"{base}/e/{n}/preview.webm",
            }
            for n in episodes
        ],
    }


def naive_baseline(base: str, episodes: range, bucket: str) -> float:
    """The seed's 'before': one asset after another, download whole, upload as is."""
    import httpx

    from reelflow.adapters.storage.s3_client import make_s3_client
    from reelflow.settings import get_settings

    s3 = make_s3_client(get_settings())  # the seed's way: a raw PUT of the bytes as they came
    started = time.perf_counter()
    with httpx.Client(trust_env=False, timeout=60) as client:
        for n in episodes:
            for name, ext in (("thumb.jpg", "jpg"), ("preview.webm", "webm")):
                body = client.get(f"{base}/e/{n}/{name}").content
                s3.put_object(Bucket=bucket, Key=f"baseline/ep{n}.{ext}", Body=body)
    return time.perf_counter() - started


def cpu_floor(thumbs: list[Path], episodes: int) -> tuple[float, float]:
    """(floor seconds, ms per image): single-thread CPU time of compression x N / cores."""
    from reelflow.core.imaging import compress_image

    samples = []
    for path in thumbs[: min(len(thumbs), 8)]:
        data = path.read_bytes()
        t0 = time.thread_time()
        compress_image(data)
        samples.append(time.thread_time() - t0)
    per_image = statistics.median(samples)
    return per_image * episodes / (os.cpu_count() or 1), per_image * 1000


def io_floor(thumbs: list[Path], previews: list[Path], episodes: int, model: CdnModel) -> float:
    sizes = [p.stat().st_size for p in thumbs], [p.stat().st_size for p in previews]
    times = [
        model.transfer_seconds(sizes[0][n % len(sizes[0])])
        + model.transfer_seconds(sizes[1][n % len(sizes[1])])
        for n in range(1, episodes + 1)
    ]
    slowest = max(model.transfer_seconds(max(sizes[0])), model.transfer_seconds(max(sizes[1])))
    return max(slowest, sum(times) / model.connections)


def warm_prefect() -> None:
    """Start Prefect's API (the local ephemeral server unless PREFECT_API_URL is set) before
    anything is timed, so server start-up is not counted as import time. The ephemeral
    server is a child that dies with this process (reelflow.adapters.throwaway_server)."""
    from prefect import flow

    from reelflow.adapters.throwaway_server import supervise

    supervise()

    @flow(name="bench-warmup")
    def warmup() -> None:
        return None

    warmup()


def run_flow(manifest: dict[str, Any]) -> tuple[float, float, Any]:
    """(seconds, submit_ms, summary) for one import-flow run in this process."""
    from flows.common.progress import listen
    from flows.import_episodes import import_episodes
    from reelflow.core.manifest import parse_manifest
    from reelflow.services.manifests import stash_manifest

    parsed = parse_manifest(manifest)
    queued: list[float] = []

    def on_progress(done: int, _total: int, _detail: object) -> None:
        if done == 0 and not queued:
            queued.append(time.perf_counter())

    started = time.perf_counter()  # storing the manifest is part of submitting it
    ref = stash_manifest(parsed)
    with listen(on_progress):
        state = import_episodes(manifest_ref=ref, return_state=True)
    seconds = time.perf_counter() - started
    summary = state.result(raise_on_failure=False)
    return seconds, (queued[0] - started) * 1000 if queued else float("nan"), summary


def run_plain(manifest: dict[str, Any]) -> tuple[float, int]:
    """The same work as the flow, same concurrency, but plain function calls: no task runs."""
    from reelflow.adapters.db import imports
    from reelflow.core.manifest import parse_manifest
    from reelflow.services import resources
    from reelflow.settings import get_settings
    from tasks.download import download_asset
    from tasks.prepare import prepare_asset
    from tasks.record import record_stored
    from tasks.upload import upload_asset

    settings = get_settings()
    started = time.perf_counter()
    jobs = imports.upsert_manifest(resources.engine(), parse_manifest(manifest))
    spool = tempfile.mkdtemp(prefix="reelflow-plain-", dir=settings.spool_dir)

    def one(job: Any) -> bool:
        try:
            record_stored.fn(upload_asset.fn(prepare_asset.fn(download_asset.fn(job, spool))))
            return True
        except Exception:  # counted, like the flow's failed outcomes
            return False

    with ThreadPoolExecutor(max_workers=settings.import_concurrency) as pool:
        ok = sum(pool.map(one, jobs))
    return time.perf_counter() - started, ok


def register(bench_app: typer.Typer) -> None:
    @bench_app.command("import")
    def bench_import(
        episodes: Annotated[int, typer.Option(help="Episodes to import")] = 200,
        latency_ms: Annotated[float, typer.Option(help="Origin latency per request")] = 100.0,
        bandwidth_mbps: Annotated[
            float, typer.Option(help="Origin bandwidth per connection, in MB/s")
        ] = 4.0,
        origin_connections: Annotated[
            int, typer.Option(help="Concurrent connections the origin serves per client")
        ] = 8,
        baseline_episodes: Annotated[
            int, typer.Option(help="Episodes timed for the sequential baseline (scaled to N)")
        ] = 10,
        plain: Annotated[
            bool, typer.Option(help="Also run the same work without Prefect task runs")
        ] = False,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """End-to-end import of N episodes against a modelled CDN, local S3 and a database."""
        from reelflow.adapters.db import migrate
        from reelflow.devtools.s3server import MotoServer
        from reelflow.services import resources
        from reelflow.settings import get_settings, reset_settings

        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        model = CdnModel(latency_ms, bandwidth_mbps, origin_connections)
        say = (lambda *a: print(*a, file=sys.stderr)) if as_json else print
        say(f"preparing media in {MEDIA_DIR} ...")
        thumbs, previews = bench_media()
        workdir = Path(tempfile.mkdtemp(prefix="reelflow-bench-"))
        with (
            MotoServer(log=workdir / "moto.log") as moto,
            OriginProcess(thumbs, previews, episodes, model) as base,
        ):
            os.environ.update(
                {
                    "S3_ENDPOINT": moto.endpoint,
                    "S3_ACCESS_KEY_ID": "bench",
                    "S3_SECRET_ACCESS_KEY": "bench-secret",
                    "S3_BUCKET_NAME": "bench",
                    "REELFLOW_FETCH_ALLOW": "127.0.0.1",
                    "REELFLOW_SPOOL_DIR": str(workdir),
                }
            )
            os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'bench.db'}")
            reset_settings()
            resources.dispose()
            settings = get_settings()
            migrate.upgrade(resources.engine())
            resources.store().ensure_bucket(settings.s3_bucket_name)

            warm_prefect()
            sample = range(1, min(baseline_episodes, episodes) + 1)
            say(f"baseline: sequential, uncompressed, {len(sample)} episodes ...")
            baseline_sample = naive_baseline(base, sample, settings.s3_bucket_name)
            baseline = baseline_sample * episodes / len(sample)

            say(f"import flow: {episodes} episodes, concurrency {settings.import_concurrency} ...")
            seconds, submit_ms, summary = run_flow(
                manifest_for(base, "bench-flow", range(1, episodes + 1))
            )
            plain_seconds = None
            if plain:
                say("same work without Prefect task runs ...")
                plain_seconds, _ok = run_plain(
                    manifest_for(base, "bench-plain", range(1, episodes + 1))
                )

        floor_cpu, ms_per_image = cpu_floor(thumbs, episodes)
        floor_io = io_floor(thumbs, previews, episodes, model)
        result: dict[str, Any] = {
            "bench": "import",
            "episodes": episodes,
            "seconds": round(seconds, 2),
            "baseline_seconds": round(baseline, 2),
            "baseline_measured_episodes": len(sample),
            "speedup": round(baseline / seconds, 2),
            "episodes_per_second": round(episodes / seconds, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "cpu_floor_seconds": round(floor_cpu, 2),
            "compress_ms_per_image": round(ms_per_image, 1),
            "io_floor_seconds": round(floor_io, 2),
            "efficiency": round(max(floor_cpu, floor_io) / seconds, 3),
            "submit_ms": round(submit_ms, 1),
            "stored": summary.stored if hasattr(summary, "stored") else None,
            "failed": summary.failed if hasattr(summary, "failed") else None,
            "import_concurrency": settings.import_concurrency,
            "compress_concurrency": settings.compress_concurrency,
            "latency_ms": latency_ms,
            "bandwidth_mb_s": bandwidth_mbps,
            "origin_connections": origin_connections,
            "cores": os.cpu_count(),
        }
        if plain_seconds is not None:
            result["plain_seconds"] = round(plain_seconds, 2)
            result["prefect_overhead"] = round(seconds / plain_seconds - 1, 3)
        print(json.dumps(result))

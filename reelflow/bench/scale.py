"""`reelflow bench scale`: one CPU-bound import on the thread runner, then on Dask clusters of 1
and 2 worker processes, in the same run.

The import: N episodes, each with a distinct full-length H.264 video (60 s, 1280x720: reelflow
scans it, cuts a 15 s 720p preview clip) and a 1920x1080 photo thumbnail (its three-rung
ladder). Every asset is CPU work: the origin
answers at once (its own process), S3 is moto (its own process).

Each configuration is one machine's worth of CPU in this model: one transcode at a time with
one ffmpeg thread, one image at a time with one libvips thread
(REELFLOW_TRANSCODE_CONCURRENCY=1, REELFLOW_FFMPEG_THREADS=1, REELFLOW_COMPRESS_CONCURRENCY=1,
VIPS_CONCURRENCY=1). So the thread runner and one Dask worker have the same CPU; two Dask
workers are two such machines (here: the machine's two cores). The Dask clusters are started
before the clock starts, as a standing cluster is (REELFLOW_DASK_ADDRESS); their start-up is
reported apart.

Figures: seconds and episodes/min per configuration; scaling = dask_2 / dask_1 throughput
(goal >= 1.7 on 2 cores); dask_overhead = dask_1 seconds / thread seconds - 1 (goal <= 10%);
and a projection for a 10,000-episode backfill on N machines from the measured per-episode CPU
seconds (labelled a projection: nothing ran on N machines).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["project", "register"]

MEDIA_DIR = Path(".reelflow/bench-media/scale")
VIDEO_SECONDS = 60.0
ONE_MACHINE = {
    "REELFLOW_TRANSCODE_CONCURRENCY": "1",
    "REELFLOW_FFMPEG_THREADS": "1",
    "REELFLOW_COMPRESS_CONCURRENCY": "1",
    "VIPS_CONCURRENCY": "1",
    "REELFLOW_IMPORT_CONCURRENCY": "4",
    "REELFLOW_DASK_THREADS_PER_WORKER": "4",
    # A heavier clip than the default (6 s at 480p), so that encoding dominates a run's fixed
    # costs (the flow's setup, the first task on each worker) on this small machine.
    "REELFLOW_PREVIEW_SECONDS": "15",
    "REELFLOW_PREVIEW_HEIGHT": "720",
}
# Amazon S3: 3,500 PUT/COPY/POST/DELETE per second per partitioned prefix (documented request
# rate guidance); each episode here stores a clip and its thumbnail's 3 rungs.
S3_PUTS_PER_SECOND = 3500
PUTS_PER_EPISODE = 4
NIC_MB_S = 125.0  # assumed: 1 Gbit/s per machine


def _media(episodes: int) -> tuple[list[Path], list[Path]]:
    from reelflow.devtools.media import full_video, photo_jpeg

    MEDIA_DIR.mkdir(parents=True, exist_ok=True)
    videos, photos = [], []
    for n in range(1, episodes + 1):
        videos.append(
            full_video(
                MEDIA_DIR / f"ep{n}-720p.mp4", VIDEO_SECONDS, 1280, 720, black_intro=3.0, seed=n
            )
        )
        photo = MEDIA_DIR / f"thumb{n}.jpg"
        if not photo.exists():
            photo.write_bytes(photo_jpeg(seed=5000 + n, quality=90))
        photos.append(photo)
    return videos, photos


def _serve(routes: dict[str, tuple[str, str]], ready: Any, stop: Any, parent: int) -> None:
    from reelflow.adapters.lifeline import arm_in_child
    from reelflow.devtools.origin import Origin

    arm_in_child(parent)  # a killed benchmark takes its origin with it
    with Origin() as origin:
        for path, (file, content_type) in routes.items():
            origin.add(path, Path(file).read_bytes(), content_type)
        ready.put(origin.port)
        stop.wait()


class _Origin:
    def __init__(self, routes: dict[str, tuple[str, str]]) -> None:
        ctx = mp.get_context("spawn")
        self._ready, self._stop = ctx.Queue(), ctx.Event()
        self._proc = ctx.Process(
            target=_serve, args=(routes, self._ready, self._stop, os.getpid()), daemon=True
        )

    def __enter__(self) -> str:
        self._proc.start()
        return f"http://127.0.0.1:{self._ready.get(timeout=120)}"

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()


def _manifest(base: str, movie: str, episodes: int) -> dict[str, Any]:
    return {
        "movie_id": movie,
        "title": "Scale",
        "episodes": [
            {
                "number": n,
                "thumbnail_url": f"{base}/e/{n}/thumb.jpg",
                "video_url": f"{base}/e/{n}/episode.mp4",
            }
            for n in range(1, episodes + 1)
        ],
    }


def _run(manifest: dict[str, Any]) -> tuple[float, Any]:
    from flows.import_episodes import import_episodes
    from reelflow.core.manifest import parse_manifest
    from reelflow.services.manifests import stash_manifest

    started = time.perf_counter()
    state = import_episodes(
        manifest_ref=stash_manifest(parse_manifest(manifest)), return_state=True
    )
    seconds = time.perf_counter() - started
    return seconds, state.result(raise_on_failure=False)


def _warm() -> None:
    """Import what an asset's chain uses, so that no configuration's clock pays for first
    imports (a standing cluster's workers have them already)."""
    import av  # noqa: F401
    import pyvips  # noqa: F401

    import reelflow.adapters.probe  # noqa: F401
    import reelflow.adapters.transcode  # noqa: F401
    import tasks.prepare  # noqa: F401
    import tasks.transfer  # noqa: F401
    from reelflow.services import resources
    from reelflow.settings import get_settings

    resources.store().probe(get_settings().s3_bucket_name)  # boto3's first client: ~1 s of CPU
    with resources.engine().connect():
        pass


def _ceiling(videos: list[Path]) -> dict[str, float]:
    """What this machine gives for two at once, without Prefect or Dask: the clips' encodes
    (ffmpeg CLI, one thread each, the same clip settings) one at a time, then two at a time.
    Two vCPUs of a VM are often two hyperthreads of one core: this is the most any runner
    can scale here."""
    import subprocess
    from concurrent.futures import ThreadPoolExecutor

    from reelflow.adapters.ffmpeg import ffmpeg_exe

    def encode(video: Path) -> None:
        subprocess.run(
            [ffmpeg_exe(), "-v", "error", "-threads", "1", "-ss", "30", "-t", "15", "-i"]
            + [str(video), "-vf", "scale=-2:720", "-c:v", "libx264", "-preset", "veryfast"]
            + ["-crf", "23", "-threads", "1", "-an", "-f", "null", "-"],
            check=True,
        )

    times = {}
    for at_once in (1, 2):
        started = time.perf_counter()
        with ThreadPoolExecutor(at_once) as pool:
            list(pool.map(encode, videos))
        times[at_once] = time.perf_counter() - started
    return {
        "one_at_a_time_seconds": round(times[1], 2),
        "two_at_a_time_seconds": round(times[2], 2),
        "ratio": round(times[1] / times[2], 3),
    }


def _configure(env: dict[str, str]) -> None:
    from reelflow.services import reset

    for key in ("REELFLOW_TASK_RUNNER", "REELFLOW_DASK_ADDRESS"):
        os.environ.pop(key, None)
    os.environ.update(env)
    reset()


def project(
    episodes: int, cpu_s_per_episode: float, mb_per_episode: float, cores: int, machines: int
) -> dict[str, Any]:
    """Hours for `episodes` on `machines` of `cores` each: the slowest of CPU (measured
    seconds per episode on one core, divided over every core), each machine's network (its
    share of the bytes at NIC_MB_S) and S3's request rate for the objects written."""
    cpu = episodes * cpu_s_per_episode / (machines * cores)
    network = episodes * mb_per_episode / machines / NIC_MB_S
    s3 = episodes * PUTS_PER_EPISODE / S3_PUTS_PER_SECOND
    seconds = max(cpu, network, s3)
    bound = "cpu" if seconds == cpu else "network" if seconds == network else "s3"
    return {"machines": machines, "hours": round(seconds / 3600, 3), "bound": bound}


def run(episodes: int, as_json: bool) -> dict[str, Any]:
    from distributed import LocalCluster

    from reelflow.adapters.db import migrate
    from reelflow.bench.importer import warm_prefect
    from reelflow.devtools.s3server import MotoServer
    from reelflow.services import resources
    from reelflow.settings import get_settings

    say = (lambda *a: print(*a, file=sys.stderr)) if as_json else print
    say(f"preparing {episodes} full-length videos and photos in {MEDIA_DIR} (once) ...")
    videos, photos = _media(episodes)
    routes = {f"/e/{n}/episode.mp4": (str(v), "video/mp4") for n, v in enumerate(videos, 1)}
    routes |= {f"/e/{n}/thumb.jpg": (str(p), "image/jpeg") for n, p in enumerate(photos, 1)}
    source_mb = sum(p.stat().st_size for p in (*videos, *photos)) / 1e6 / episodes
    workdir = Path(tempfile.mkdtemp(prefix="reelflow-bench-scale-"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    results: dict[str, Any] = {}
    with MotoServer(log=workdir / "moto.log") as moto, _Origin(routes) as base:
        common = {
            **ONE_MACHINE,
            "S3_ENDPOINT": moto.endpoint,
            "S3_ACCESS_KEY_ID": "bench",
            "S3_SECRET_ACCESS_KEY": "bench-secret",
            "S3_BUCKET_NAME": "bench",
            "REELFLOW_FETCH_ALLOW": "127.0.0.1",
            "REELFLOW_SPOOL_DIR": str(workdir),
            "DATABASE_URL": os.environ.get("DATABASE_URL", f"sqlite:///{workdir / 'scale.db'}"),
        }
        _configure(common)
        migrate.upgrade(resources.engine())
        resources.store().ensure_bucket(get_settings().s3_bucket_name)
        warm_prefect()
        _warm()
        if not os.environ.get("PREFECT_API_URL"):
            from prefect.client.orchestration import get_client

            with get_client(sync_client=True) as client:  # the Dask workers report here too
                common["PREFECT_API_URL"] = str(client.api_url).rstrip("/")
        for name, workers in (("thread", 0), ("dask_1", 1), ("dask_2", 2)):
            env = dict(common)
            cluster = None
            if workers:
                _configure(env)  # the workers inherit this environment
                t0 = time.perf_counter()
                cluster = LocalCluster(  # type: ignore[no-untyped-call]
                    n_workers=workers,
                    threads_per_worker=int(ONE_MACHINE["REELFLOW_DASK_THREADS_PER_WORKER"]),
                    processes=True,
                    dashboard_address=None,
                )
                from distributed import Client

                with Client(cluster) as client:  # type: ignore[no-untyped-call]
                    client.run(_warm)
                env |= {"REELFLOW_TASK_RUNNER": "dask"}
                env |= {"REELFLOW_DASK_ADDRESS": cluster.scheduler_address}
                started = time.perf_counter() - t0
            _configure(env)
            say(f"{name}: importing {episodes} episodes ...")
            try:
                seconds, summary = _run(_manifest(base, f"scale-{name}", episodes))
            finally:
                if cluster is not None:
                    cluster.close()
            results[name] = {
                "seconds": round(seconds, 2),
                "episodes_per_min": round(episodes / seconds * 60, 2),
                "stored": getattr(summary, "stored", None),
                "failed": getattr(summary, "failed", None),
            }
            if workers:
                results[name]["cluster_start_seconds"] = round(started, 2)
    say("the machine's own ceiling: the same encodes one and two at a time, no Prefect ...")
    ceiling = _ceiling(videos)
    thread, one, two = results["thread"], results["dask_1"], results["dask_2"]
    cpu_s = one["seconds"] / episodes  # one worker = one core's worth of CPU in this model
    return {
        "bench": "scale",
        "episodes": episodes,
        "cores": os.cpu_count(),
        **results,
        "scaling_2_over_1": round(one["seconds"] / two["seconds"], 3),
        "machine_ceiling_2_over_1": ceiling,
        "scaling_share_of_ceiling": round(
            (one["seconds"] / two["seconds"] - 1) / max(ceiling["ratio"] - 1, 1e-9), 3
        ),
        "dask_overhead": round(one["seconds"] / thread["seconds"] - 1, 3),
        "cpu_seconds_per_episode": round(cpu_s, 3),
        "source_mb_per_episode": round(source_mb, 2),
        "projection_10000_episodes": {
            "label": "projection from the measured per-episode CPU; 8-core machines; "
            f"network {NIC_MB_S:.0f} MB/s per machine (assumed); S3 {S3_PUTS_PER_SECOND} PUT/s "
            "per prefix (AWS's documented rate)",
            "runs": [project(10_000, cpu_s, source_mb, 8, n) for n in (1, 2, 4, 8, 16, 32)],
        },
    }


def register(bench_app: typer.Typer) -> None:
    @bench_app.command("scale")
    def bench_scale(
        episodes: Annotated[int, typer.Option(help="Episodes (a video and a photo each)")] = 16,
        as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line.")] = False,
    ) -> None:
        """A CPU-bound import on threads, then Dask with 1 and 2 worker processes."""
        result = run(episodes, as_json)
        typer.echo(json.dumps(result) if as_json else json.dumps(result, indent=2))

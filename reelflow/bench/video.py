"""`reelflow bench video`: preview clips and posters from full-length videos, against ffmpeg
alone.

* **Floor.** For each source, in the same run and alternating, reelflow's whole video work for
  a video-only episode (the thumbnail job: probe, keyframe scan, poster frame; the preview
  job: probe, scan, clip, probe of the clip, sha256) against the ffmpeg CLI running the same
  argument lists once each (scan, poster, clip) and nothing else. Overhead = reelflow / floor
  - 1, from the fastest of `--rounds` rounds of each. The poster's WebP ladder is image work,
  timed apart (`ladder_seconds`; `bench compress --ladder` compares it with sharp).
* **Speed.** The clip's encode as a multiple of real time (clip seconds / encode seconds);
  with `--webm`, the VP9 clip's cost against the MP4's.
* **Scale.** `--scale N` sources of 2-5 minutes, all of the work above for each, at 1 and then
  2 transcodes at once (threads per ffmpeg: REELFLOW_FFMPEG_THREADS): sources per minute and
  the ratio.
* **Memory.** `--long` adds a 2-hour 1080p source (60 s of picture looped, stream-copied):
  the peak RSS of ffmpeg (the largest child) and of the Python process doing its work, in a
  fresh process, against the same for a 90 s 1080p source.

Sources are generated once into DIR (a black intro, scene changes, an audio track).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any

import typer

FLOOR_SECONDS = 90.0


def _sources(
    folder: Path, count: int, seconds: Callable[[int], float], size: tuple[int, int], prefix: str
) -> list[Path]:
    from reelflow.devtools.media import full_video

    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for index in range(count):
        width, height = size
        path = folder / f"{prefix}-{index}-{width}x{height}-{seconds(index):.0f}s.mp4"
        full_video(path, seconds(index), width, height, black_intro=5.0, seed=index)
        made.append(path)
    return made


def _long_source(folder: Path) -> Path:
    """Two hours of 1080p: 60 s generated, then looped 120 times without re-encoding."""
    from reelflow.adapters.ffmpeg import ffmpeg_exe
    from reelflow.devtools.media import full_video

    path = folder / "long-1920x1080-7200s.mp4"
    if path.exists():
        return path
    minute = full_video(folder / "minute-1920x1080.mp4", 60.0, 1920, 1080, black_intro=5.0)
    part = path.with_name(path.name + ".part")
    subprocess.run(
        [
            ffmpeg_exe(),
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-y",
            "-stream_loop",
            "119",
            "-i",
            str(minute),
            "-c",
            "copy",
            "-f",
            "mp4",
            str(part),
        ],
        check=True,
    )
    part.replace(path)
    return path


def _reelflow(path: Path, settings: Any, fmt: str = "mp4") -> dict[str, float]:
    """Both jobs of a video-only episode, as tasks/prepare.py does them (without Prefect):
    each judges the file; the first analysis (probe and keyframe scan) serves both."""
    import hashlib

    from reelflow.adapters.probe import probe_video
    from reelflow.adapters.transcode import _ANALYSES, analyse, make_clip, make_poster
    from reelflow.core.imaging import ImagePolicy, render_ladder
    from reelflow.core.media import VideoProbe, expect_kind, judge_video
    from reelflow.core.video import clip_plan, judge_source

    threads, timeout = settings.ffmpeg_threads, settings.ffmpeg_timeout
    window, spec = settings.poster_window_seconds, settings.preview_spec()
    # Each round is a new source for the cache: the download's sha256 stands in.
    _ANALYSES.clear()
    sha256 = hashlib.sha256(f"{path}:{time.perf_counter_ns()}".encode()).hexdigest()

    def job() -> Any:
        with open(path, "rb") as handle:
            media = expect_kind(handle.read(64), "video")

        def judge(found: VideoProbe) -> None:
            judge_video(media, found)
            judge_source(found, settings.video_limits())

        return analyse(str(path), sha256, window, threads, timeout, judge)

    started = time.perf_counter()
    found = job()  # the thumbnail job
    poster = make_poster(str(path), found.poster_at, found.why, threads, timeout)
    found = job()  # the preview job
    assert found.probe.seconds is not None
    encode = time.perf_counter()
    plan = clip_plan(found.probe.seconds, found.poster_at, spec)
    clip = make_clip(str(path), plan, spec, fmt, threads, timeout)
    probe_video(clip.path)
    done = time.perf_counter()
    Path(clip.path).unlink(missing_ok=True)
    ladder = time.perf_counter()
    render_ladder(poster.png, settings.image_ladder().specs(), ImagePolicy())
    return {
        "seconds": done - started,
        "encode_seconds": done - encode,
        "clip_seconds": clip.seconds,
        "clip_bytes": clip.bytes,
        "poster_at": poster.seconds,
        "ladder_seconds": time.perf_counter() - ladder,
    }


def _floor(path: Path, settings: Any, work: Path, at: float) -> float:
    """The floor with the poster and clip at reelflow's chosen time (same frames decoded)."""
    from reelflow.adapters.ffmpeg import ffmpeg_exe
    from reelflow.adapters.probe import probe_video
    from reelflow.core.video import clip_args, clip_plan, content_window, poster_args, scan_args

    found = probe_video(path)
    assert found.seconds is not None
    threads, spec = settings.ffmpeg_threads, settings.preview_spec()
    start, length = content_window(found.seconds, settings.poster_window_seconds)
    poster, clip = work / "floor.png", work / "floor.mp4"
    commands = [
        scan_args(str(path), start, length, threads),
        poster_args(str(path), at, str(poster), threads),
        clip_args(str(path), clip_plan(found.seconds, at, spec), spec, "mp4", str(clip), threads),
    ]
    exe = ffmpeg_exe()
    started = time.perf_counter()
    for args in commands:
        subprocess.run([exe, *args], stdin=subprocess.DEVNULL, capture_output=True, check=True)
    took = time.perf_counter() - started
    poster.unlink(missing_ok=True)
    clip.unlink(missing_ok=True)
    return took


_MEMORY_CHILD = r"""
import json, resource, sys
from pathlib import Path
from reelflow.bench.video import _reelflow
from reelflow.settings import get_settings
one = _reelflow(Path(sys.argv[1]), get_settings())
with open("/proc/self/status") as status:
    hwm = next(int(l.split()[1]) for l in status if l.startswith("VmHWM:"))
print(json.dumps({
    "seconds": round(one["seconds"], 2),
    "ffmpeg_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    "process_peak_rss_mb": round(hwm / 1024, 1),
}))
"""


def _memory(path: Path) -> dict[str, Any]:
    """Peak RSS of the largest ffmpeg and of the Python process doing one source's work, in a
    fresh process (its children are only that work's ffmpeg runs)."""
    done = subprocess.run(
        [sys.executable, "-c", _MEMORY_CHILD, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def run(
    folder: Path, rounds: int, scale: int, long: bool, webm: bool, echo: Callable[[str], None]
) -> dict[str, Any]:
    from reelflow.settings import get_settings

    settings = get_settings()
    work = folder / "work"
    work.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "ffmpeg_threads": settings.ffmpeg_threads,
        "preview": {
            "seconds": settings.preview_seconds,
            "height": settings.preview_height,
            "crf": settings.preview_crf,
            "preset": settings.preview_preset,
        },
    }
    echo("generating sources (once) ...")
    floor_sources = _sources(folder, 3, lambda i: FLOOR_SECONDS, (1920, 1080), "floor")
    per_source: list[dict[str, Any]] = []
    for path in floor_sources:
        ours, floors, runs = [], [], []
        for _ in range(rounds):
            one = _reelflow(path, settings)
            runs.append(one)
            ours.append(one["seconds"])
            floors.append(_floor(path, settings, work, one["poster_at"]))
        best = min(runs, key=lambda r: r["seconds"])
        per_source.append(
            {
                "source": path.name,
                "reelflow_s": round(min(ours), 3),
                "floor_s": round(min(floors), 3),
                "overhead": round(min(ours) / min(floors) - 1, 4),
                "encode_s": round(best["encode_seconds"], 3),
                "clip_seconds": best["clip_seconds"],
                "clip_bytes": best["clip_bytes"],
                "realtime_x": round(best["clip_seconds"] / best["encode_seconds"], 1),
                "ladder_s": round(best["ladder_seconds"], 3),
                "poster_at": best["poster_at"],
            }
        )
        echo(json.dumps(per_source[-1]))
    result["floor"] = {
        "sources": per_source,
        "overhead_median": round(statistics.median(float(p["overhead"]) for p in per_source), 4),
        "realtime_x_median": statistics.median(float(p["realtime_x"]) for p in per_source),
    }
    if webm:
        path = floor_sources[0]
        mp4 = min(_reelflow(path, settings)["encode_seconds"] for _ in range(rounds))
        vp9 = min(_reelflow(path, settings, "webm")["encode_seconds"] for _ in range(rounds))
        result["webm"] = {
            "mp4_encode_s": round(mp4, 3),
            "webm_encode_s": round(vp9, 3),
            "webm_cost_x": round(vp9 / mp4, 2),
        }
        echo(json.dumps(result["webm"]))
    if scale:
        sources = _sources(folder, scale, lambda i: 120.0 + (i * 37) % 181, (1280, 720), "scale")
        minutes = sum(float(p.name.rsplit("-", 1)[1].removesuffix("s.mp4")) for p in sources) / 60
        figures = {}
        for workers in (1, 2):
            started = time.perf_counter()
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(lambda p: _reelflow(p, settings), sources))
            took = time.perf_counter() - started
            figures[workers] = took
            echo(f"scale: {scale} sources at {workers} at once: {took:.1f} s")
        result["scale"] = {
            "sources": scale,
            "source_minutes": round(minutes, 1),
            "one_at_a_time_s": round(figures[1], 1),
            "two_at_a_time_s": round(figures[2], 1),
            "sources_per_minute_1": round(scale / figures[1] * 60, 1),
            "sources_per_minute_2": round(scale / figures[2] * 60, 1),
            "ratio_2_over_1": round(figures[1] / figures[2], 2),
        }
    if long:
        echo("generating the 2-hour 1080p source (once) ...")
        path = _long_source(folder)
        short = floor_sources[0]
        result["long"] = {
            "source": path.name,
            "source_mb": round(path.stat().st_size / 2**20, 1),
            **{f"long_{k}": v for k, v in _memory(path).items()},
            **{f"90s_{k}": v for k, v in _memory(short).items()},
        }
        echo(json.dumps(result["long"]))
    return result


def register(bench_app: typer.Typer) -> None:
    @bench_app.command("video")
    def bench_video(
        folder: Annotated[Path, typer.Argument(help="Where the generated sources are kept")] = Path(
            ".reelflow/bench-videos"
        ),
        rounds: Annotated[int, typer.Option(help="Rounds per source; the fastest counts")] = 3,
        scale: Annotated[
            int, typer.Option(help="Sources of 2-5 minutes for the scale figure (0: none)")
        ] = 20,
        long: Annotated[
            bool, typer.Option("--long/--no-long", help="Add the 2-hour 1080p memory check")
        ] = True,
        webm: Annotated[
            bool, typer.Option("--webm/--no-webm", help="Also time the VP9 WebM clip")
        ] = True,
        as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line.")] = False,
    ) -> None:
        """Clips and posters against the ffmpeg CLI with the same arguments (same run)."""
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        result = run(folder, rounds, scale, long, webm, typer.echo)
        typer.echo(json.dumps(result) if as_json else json.dumps(result, indent=2))

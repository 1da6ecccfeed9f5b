"""Posters and preview clips from a video on local disk: the decisions of reelflow.core.video
carried out by ffmpeg (reelflow.adapters.ffmpeg), each output checked by the probe.

Every function takes the spool file's path: ffmpeg reads nothing else.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reelflow.adapters.ffmpeg import run_ffmpeg
from reelflow.adapters.probe import probe_video
from reelflow.core.errors import TranscodeFailed, UnsupportedMedia
from reelflow.core.media import VideoProbe
from reelflow.core.video import (
    SCAN_HEIGHT,
    SCAN_WIDTH,
    ClipPlan,
    Frame,
    PreviewSpec,
    clip_args,
    content_window,
    parse_showinfo_times,
    pick_poster,
    poster_args,
    scan_args,
)

SHORT_CLIP_TOLERANCE = 0.25  # seconds a clip may fall short of its plan (frame rounding)

__all__ = ["Analysis", "Clip", "Poster", "analyse", "choose_poster", "make_clip", "make_poster"]


@dataclass(frozen=True)
class Poster:
    seconds: float  # where in the source
    why: str  # how it was chosen
    png: bytes  # the frame, upright, at the source's size
    cpu_seconds: float


@dataclass(frozen=True)
class Clip:
    path: str
    format: str  # mp4 | webm
    width: int
    height: int
    seconds: float
    codec: str
    bytes: int
    sha256: str
    cpu_seconds: float


def choose_poster(
    src: str, probe: VideoProbe, window: float, threads: int, timeout: float
) -> tuple[float, str, float]:
    """(seconds, why, ffmpeg CPU seconds): the poster's time, from the keyframes of the
    content window (reelflow.core.video.pick_poster)."""
    assert probe.seconds is not None
    start, length = content_window(probe.seconds, window)
    frames: list[Frame] = []
    cpu = 0.0
    if length > 0:
        done = run_ffmpeg(
            scan_args(src, start, length, threads),
            what="scanning for a poster frame",
            timeout=timeout,
            paths=[src],
        )
        cpu = done.cpu_seconds
        size = SCAN_WIDTH * SCAN_HEIGHT
        times = parse_showinfo_times(done.stderr)
        for index, stamp in enumerate(times):
            at = stamp - probe.start  # the file's timeline -> seconds from its beginning
            luma = done.stdout[index * size : (index + 1) * size]
            if len(luma) == size and start - 0.5 <= at <= start + length:
                frames.append(Frame(seconds=max(0.0, at), luma=luma))
    seconds, why = pick_poster(frames, probe.seconds)
    return seconds, why, cpu


def make_poster(src: str, seconds: float, why: str, threads: int, timeout: float) -> Poster:
    """The frame at `seconds` as PNG bytes, upright (display rotation applied)."""
    out = f"{src}.poster.png"
    try:
        done = run_ffmpeg(
            poster_args(src, seconds, out, threads),
            what="taking the poster frame",
            timeout=timeout,
            outputs=[out],
            paths=[src],
        )
        data = Path(out).read_bytes() if os.path.exists(out) else b""
    finally:
        Path(out).unlink(missing_ok=True)
    if not data:
        raise TranscodeFailed(f"no frame at {seconds:.2f} s to make a poster from")
    return Poster(seconds=seconds, why=why, png=data, cpu_seconds=done.cpu_seconds)


@dataclass(frozen=True)
class Analysis:
    """A source's probe and its poster time: what both of an episode's video jobs need."""

    probe: VideoProbe
    poster_at: float
    why: str


_ANALYSES: OrderedDict[tuple[str, float], Analysis] = OrderedDict()
_LOCKS: dict[tuple[str, float], threading.Lock] = {}
_GUARD = threading.Lock()
_KEEP = 256


def analyse(
    src: str,
    sha256: str,
    window: float,
    threads: int,
    timeout: float,
    judge: Callable[[VideoProbe], None],
) -> Analysis:
    """Probe `src`, `judge` the probe (raises to refuse), and scan its keyframes for the poster
    time, once per source in this process: the thumbnail and the preview of a video-only
    episode download the same bytes (equal sha256), and the second job takes the first one's
    analysis (waiting for it when both run at once) instead of scanning again. Only an
    accepted source's analysis is kept (the last 256)."""
    key = (sha256, window)
    with _GUARD:
        lock = _LOCKS.setdefault(key, threading.Lock())
    with lock:
        with _GUARD:
            found = _ANALYSES.get(key)
        if found is not None:
            judge(found.probe)
            return found
        probe = probe_video(src)
        judge(probe)
        seconds, why, _ = choose_poster(src, probe, window, threads, timeout)
        found = Analysis(probe=probe, poster_at=seconds, why=why)
        with _GUARD:
            _ANALYSES[key] = found
            while len(_ANALYSES) > _KEEP:
                old, _ = _ANALYSES.popitem(last=False)
                _LOCKS.pop(old, None)
        return found


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def make_clip(
    src: str, plan: ClipPlan, spec: PreviewSpec, fmt: str, threads: int, timeout: float
) -> Clip:
    """The muted clip in `fmt`, written beside the source and checked by the probe."""
    out = f"{src}.clip.{fmt}"
    done = run_ffmpeg(
        clip_args(src, plan, spec, fmt, out, threads),
        what=f"cutting the {fmt} preview clip",
        timeout=timeout,
        outputs=[out],
        paths=[src],
    )
    try:
        made = probe_video(out)
    except UnsupportedMedia as exc:
        Path(out).unlink(missing_ok=True)
        raise TranscodeFailed(f"the {fmt} clip ffmpeg made does not play: {exc}") from None
    made_seconds = made.seconds or 0.0
    if made_seconds < plan.seconds - SHORT_CLIP_TOLERANCE:
        # The header promised more than the file holds (truncated after its index).
        Path(out).unlink(missing_ok=True)
        raise TranscodeFailed(
            f"the source ends early: a {made_seconds:.1f} s clip where {plan.seconds:.1f} s "
            f"from {plan.start:.1f} s were due (a truncated file?)"
        )
    return Clip(
        path=out,
        format=fmt,
        width=made.width,
        height=made.height,
        seconds=round(made.seconds or 0.0, 3),
        codec=made.codec,
        bytes=os.path.getsize(out),
        sha256=_sha256(out),
        cpu_seconds=done.cpu_seconds,
    )

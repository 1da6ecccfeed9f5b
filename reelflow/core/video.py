"""Video previews and posters made from full-length videos: the decisions, as plain functions.
Pure: no subprocess, no settings object, no I/O (reelflow.adapters.ffmpeg runs what is built
here; reelflow.adapters.probe reads the facts judged here).

    probe -> judge_source -> scan_args -> pick_poster -> poster_args -> clip_plan -> clip_args

* **The content window.** A first frame is usually black or a logo, and a fixed offset lands on
  a title card. The poster is chosen from the keyframes of a window after the first 10% of the
  video (`content_window`): black and near-uniform frames are dropped, and of the rest the one
  closest to their average (the idea of ffmpeg's `thumbnail` filter) wins. With no candidate,
  the middle of the video. Keyframes only: a scan of a 60 s window decodes ~6-30 frames.
* **The clip** starts at the poster's time (moved back when the clip would run past the end):
  the segment and the frame come from the same content.
* **Specs and digests.** Each output (clip MP4, optional clip WebM) has a spec digest, as an
  image rung does (reelflow.core.ladder): the same source and the same settings make nothing
  new, and a changed setting remakes only the output whose digest changed.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reelflow.core.errors import TooLarge, UnsupportedMedia
from reelflow.core.media import VideoProbe

__all__ = [
    "CLIP_RUNG",
    "ClipPlan",
    "Frame",
    "PreviewSpec",
    "SourceLimits",
    "clip_args",
    "clip_plan",
    "content_window",
    "judge_source",
    "parse_showinfo_times",
    "pick_poster",
    "playable_as_is",
    "poster_args",
    "scan_args",
]

# The rung name a preview clip's rendition rows and keys carry (ep3_preview-clip-<v>.mp4).
CLIP_RUNG = "clip"
# What decides a clip's bytes besides its spec; bump when the argument lists change output.
_PIPELINE_VERSION = 1

# The scan: each keyframe of the window is shrunk to this many grey pixels and judged.
SCAN_WIDTH, SCAN_HEIGHT = 32, 18
BLACK_LUMA = 24.0  # mean luma (0-255) below which a frame is black (or a fade)
UNIFORM_STDDEV = 10.0  # luma standard deviation below which a frame is near-uniform

# What browsers play without a plug-in, by container: H.264 in MP4, VP8/VP9/AV1 in WebM.
_PLAYABLE: dict[str, frozenset[str]] = {
    "mp4": frozenset({"h264", "av1"}),
    "webm": frozenset({"vp8", "vp9", "av1"}),
}


@dataclass(frozen=True)
class SourceLimits:
    """What a source video may be (REELFLOW_MAX_VIDEO_SECONDS, REELFLOW_MAX_VIDEO_PIXELS)."""

    max_seconds: float = 4 * 3600.0
    max_pixels: int = 7680 * 4320


@dataclass(frozen=True)
class PreviewSpec:
    """The preview clip every video gets (REELFLOW_PREVIEW_*)."""

    seconds: float = 6.0
    height: int = 480  # the short side, for portrait sources too ("480p")
    crf: int = 23
    preset: str = "veryfast"
    max_fps: int = 30
    webm: bool = False
    webm_crf: int = 35
    # A ready-made preview longer than this (or not playable in browsers) is transcoded.
    max_ready_seconds: float = 15.0

    def __post_init__(self) -> None:
        if not 0.5 <= self.seconds <= 60:
            raise ValueError("preview seconds must be within 0.5..60")
        if not 2 <= self.height <= 4320:
            raise ValueError("preview height must be within 2..4320")

    def _digest(self, fmt: str) -> str:
        facts: dict[str, object] = {
            "v": _PIPELINE_VERSION,
            "format": fmt,
            "seconds": round(self.seconds, 3),
            "height": self.height,
            "fps": self.max_fps,
        }
        if fmt == "mp4":
            facts.update(codec="h264", crf=self.crf, preset=self.preset)
        else:
            facts.update(codec="vp9", crf=self.webm_crf)
        text = json.dumps(facts, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def specs(self) -> tuple[tuple[str, str, str], ...]:
        """(rung, format, digest) of every output, the MP4 first (the asset's own object)."""
        out = [(CLIP_RUNG, "mp4", self._digest("mp4"))]
        if self.webm:
            out.append((CLIP_RUNG, "webm", self._digest("webm")))
        return tuple(out)

    def digests(self) -> dict[tuple[str, str], str]:
        return {(rung, fmt): digest for rung, fmt, digest in self.specs()}

    def stale(self, made: Mapping[tuple[str, str], str]) -> tuple[tuple[str, str], ...]:
        """The outputs to make, given the digests of those already stored."""
        return tuple(
            (rung, fmt) for rung, fmt, digest in self.specs() if made.get((rung, fmt)) != digest
        )


def judge_source(probe: VideoProbe, limits: SourceLimits) -> None:
    """Refuse what cannot become a preview: UnsupportedMedia or TooLarge, saying why."""
    if probe.width <= 0 or probe.height <= 0:
        raise UnsupportedMedia(f"video stream ({probe.codec}) has no picture size")
    if not probe.decoded_frame:
        raise UnsupportedMedia(f"video ({probe.codec}): no frame decodes")
    if probe.seconds is None or not math.isfinite(probe.seconds) or probe.seconds <= 0:
        raise UnsupportedMedia(f"video ({probe.codec}) has no known duration")
    if probe.width * probe.height > limits.max_pixels:
        raise TooLarge(
            f"video is {probe.width}x{probe.height}, over the limit of "
            f"{limits.max_pixels:,} pixels (REELFLOW_MAX_VIDEO_PIXELS)"
        )
    if probe.seconds > limits.max_seconds:
        raise TooLarge(
            f"video lasts {probe.seconds:,.0f} s, over the limit of {limits.max_seconds:,.0f} s "
            "(REELFLOW_MAX_VIDEO_SECONDS)"
        )


def playable_as_is(ext: str, probe: VideoProbe, spec: PreviewSpec) -> str | None:
    """None when a ready-made preview can be stored as it is; else why it must be transcoded."""
    codecs = _PLAYABLE.get(ext)
    if codecs is None:
        return f"{ext} is not a container browsers play"
    if probe.codec not in codecs:
        return f"{probe.codec} in {ext} does not play in every browser"
    if probe.seconds is not None and probe.seconds > spec.max_ready_seconds:
        return f"it lasts {probe.seconds:.1f} s, over {spec.max_ready_seconds:g} s"
    return None


def content_window(duration: float, window: float) -> tuple[float, float]:
    """(start, length) of the scan: after the first 10%, at most `window` seconds, and never
    past 90% of the video (end credits)."""
    start = duration * 0.10
    length = max(0.0, min(window, duration * 0.90 - start))
    return round(start, 3), round(length, 3)


@dataclass(frozen=True)
class Frame:
    """A scanned keyframe: its time in the source and its grey pixels (SCAN_WIDTH x HEIGHT)."""

    seconds: float
    luma: bytes

    @property
    def mean(self) -> float:
        return sum(self.luma) / len(self.luma) if self.luma else 0.0

    @property
    def stddev(self) -> float:
        if not self.luma:
            return 0.0
        mean = self.mean
        return math.sqrt(sum((v - mean) ** 2 for v in self.luma) / len(self.luma))


def _histogram(luma: bytes, bins: int = 16) -> list[float]:
    counts = [0] * bins
    for value in luma:
        counts[value * bins // 256] += 1
    total = len(luma) or 1
    return [c / total for c in counts]


def pick_poster(frames: Sequence[Frame], duration: float) -> tuple[float, str]:
    """(seconds, why) of the poster frame: of the keyframes neither black nor near-uniform, the
    one whose histogram is closest to their mean histogram; the middle when there is none."""
    usable = [f for f in frames if f.mean >= BLACK_LUMA and f.stddev >= UNIFORM_STDDEV]
    if not usable:
        why = "no keyframe in the content window has content" if frames else "no keyframe found"
        return round(duration / 2, 3), f"middle of the video ({why})"
    hists = [_histogram(f.luma) for f in usable]
    mean = [sum(col) / len(hists) for col in zip(*hists, strict=True)]
    best = min(
        range(len(usable)),
        key=lambda i: (sum((a - b) ** 2 for a, b in zip(hists[i], mean, strict=True)), i),
    )
    return round(usable[best].seconds, 3), (
        f"representative keyframe ({len(usable)} of {len(frames)} had content)"
    )


@dataclass(frozen=True)
class ClipPlan:
    start: float  # seconds into the source
    seconds: float  # the clip's length (the source's, when shorter than the spec)


def clip_plan(duration: float, poster_at: float, spec: PreviewSpec) -> ClipPlan:
    """The segment: from the poster's time, moved back so the clip ends within the video."""
    seconds = min(spec.seconds, duration)
    start = min(max(0.0, poster_at), max(0.0, duration - seconds))
    return ClipPlan(start=round(start, 3), seconds=round(seconds, 3))


_SHOWINFO = re.compile(r"\bn:\s*\d+\s+pts:\s*-?\d+\s+pts_time:\s*(-?[0-9.]+)")


def parse_showinfo_times(stderr: str) -> list[float]:
    """The pts_time of every frame the `showinfo` filter logged, in order."""
    return [float(m.group(1)) for m in _SHOWINFO.finditer(stderr)]


# Every invocation: no stdin, no network (only the file protocol), a bounded thread count.
def _common() -> list[str]:
    return ["-hide_banner", "-nostdin", "-y"]


def _input(path: str, threads: int) -> list[str]:
    """The spool file as the only input, its decoder on `threads` threads, then the same
    bound for the encoder and the filters (options after -i are the output's)."""
    return [
        "-protocol_whitelist",
        "file",
        "-threads",
        str(threads),
        "-i",
        f"file:{path}",
        "-threads",
        str(threads),
        "-filter_threads",
        str(threads),
    ]


def scan_args(src: str, start: float, length: float, threads: int) -> list[str]:
    """Decode only the keyframes from `start` for about `length` seconds, shrink each to
    SCAN_WIDTH x SCAN_HEIGHT grey bytes on stdout; `showinfo` logs their times, in the file's
    own timeline (-copyts: with skipped frames, times relative to the seek are not reliable,
    and -t may let one more keyframe through; the caller drops what lies past the window)."""
    return [
        *_common(),
        "-loglevel",
        "info",
        "-skip_frame",
        "nokey",
        "-copyts",
        "-ss",
        f"{start:.3f}",
        "-t",
        f"{length:.3f}",
        *_input(src, threads),
        "-map",
        "0:v:0",
        "-an",
        "-sn",
        "-dn",
        "-vf",
        f"scale={SCAN_WIDTH}:{SCAN_HEIGHT}:flags=area,format=gray,showinfo",
        "-fps_mode",
        "passthrough",
        "-f",
        "rawvideo",
        "pipe:1",
    ]


def poster_args(src: str, at: float, out: str, threads: int) -> list[str]:
    """One frame at `at` seconds as a PNG at the source's size, display rotation applied
    (ffmpeg turns rotated video upright unless told not to)."""
    return [
        *_common(),
        "-loglevel",
        "error",
        "-ss",
        f"{at:.3f}",
        *_input(src, threads),
        "-map",
        "0:v:0",
        "-an",
        "-sn",
        "-dn",
        "-frames:v",
        "1",
        "-vf",
        "format=rgb24",
        "-c:v",
        "png",
        "-compression_level",
        "1",
        "-f",
        "image2",
        f"file:{out}",
    ]


def _scale(height: int) -> str:
    """The short side to `height` (never upscaled), the long side to keep the aspect ratio;
    both even, as H.264 in 4:2:0 needs, and at least 2."""
    return (
        f"scale=w='if(gte(iw,ih),-2,max(2,2*trunc(min({height},iw)/2)))'"
        f":h='if(gte(iw,ih),max(2,2*trunc(min({height},ih)/2)),-2)'"
        ":flags=bicubic,setsar=1"
    )


def clip_args(
    src: str, plan: ClipPlan, spec: PreviewSpec, fmt: str, out: str, threads: int
) -> list[str]:
    """The muted clip: H.264 MP4 with the index first (+faststart), or VP9 WebM."""
    if fmt == "mp4":
        codec = [
            "-c:v",
            "libx264",
            "-preset",
            spec.preset,
            "-crf",
            str(spec.crf),
            "-pix_fmt",
            "yuv420p",
            "-profile:v",
            "high",
            "-movflags",
            "+faststart",
            "-f",
            "mp4",
        ]
    elif fmt == "webm":
        codec = [
            "-c:v",
            "libvpx-vp9",
            "-crf",
            str(spec.webm_crf),
            "-b:v",
            "0",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-row-mt",
            "1",
            "-pix_fmt",
            "yuv420p",
            "-f",
            "webm",
        ]
    else:
        raise ValueError(f"unknown clip format {fmt!r}")
    return [
        *_common(),
        "-loglevel",
        "error",
        "-ss",
        f"{plan.start:.3f}",
        "-t",
        f"{plan.seconds:.3f}",
        *_input(src, threads),
        "-map",
        "0:v:0",
        "-an",
        "-sn",
        "-dn",
        "-map_metadata",
        "-1",
        "-vf",
        _scale(spec.height),
        "-fpsmax",
        str(spec.max_fps),
        *codec,
        f"file:{out}",
    ]

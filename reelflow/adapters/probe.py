"""Probe a video file with PyAV (the FFmpeg libraries it bundles): the one media probe, used
to accept downloaded previews (tasks/prepare.py) and by anything that needs a video's facts.

The file is opened, its first video stream's facts read (container, codec, size, duration,
frame rate, display rotation, whether audio is there) and its first frame decoded; nothing
else is decoded, so a 500 MB preview or a 4 GB episode costs milliseconds. Whatever
libavformat cannot open or decode becomes `UnsupportedMedia` with FFmpeg's reason, never the
file's path.
"""

from __future__ import annotations

import os

import av

from reelflow.core.errors import UnsupportedMedia
from reelflow.core.media import VideoProbe

__all__ = ["probe_video"]

# How much of the file libavformat may read to find the streams (FFmpeg's own defaults).
_OPEN_OPTIONS = {"probesize": "5000000", "analyzeduration": "5000000"}


def _rotation(frame: av.VideoFrame | None) -> int:
    """The display rotation of the stream (its display matrix), as 0, 90, 180 or 270."""
    if frame is None:
        return 0
    try:
        return int(round(float(frame.rotation))) % 360
    except (AttributeError, TypeError, ValueError):
        return 0


def probe_video(path: str | os.PathLike[str]) -> VideoProbe:
    """The facts of the video in `path`; UnsupportedMedia when it is not a playable video."""
    try:
        with av.open(os.fspath(path), mode="r", options=_OPEN_OPTIONS) as container:
            streams = container.streams.video
            if not streams:
                kinds: list[str] = sorted({str(s.type) for s in container.streams})
                kinds = kinds or ["nothing"]
                raise UnsupportedMedia(f"no video stream (holds {', '.join(kinds)})")
            stream = streams[0]
            codec = stream.codec_context
            first = next(container.decode(stream), None)
            seconds = container.duration / av.time_base if container.duration else None
            if seconds is None and stream.duration and stream.time_base:
                seconds = float(stream.duration * stream.time_base)
            rate = stream.average_rate
            return VideoProbe(
                formats=tuple(container.format.name.split(",")),
                codec=codec.name,
                width=int(codec.width or 0),
                height=int(codec.height or 0),
                seconds=seconds,
                decoded_frame=first is not None,
                fps=float(rate) if rate else None,
                rotation=_rotation(first),
                audio=bool(container.streams.audio),
                start=container.start_time / av.time_base if container.start_time else 0.0,
            )
    except av.FFmpegError as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise UnsupportedMedia(f"not a playable video: {reason}") from None

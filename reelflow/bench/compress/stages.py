"""Where our path spends its CPU: decode, resize, encode and the rest, by cProfile."""

from __future__ import annotations

import cProfile
import pstats
import time
from collections.abc import Sequence
from typing import Any

from reelflow.bench.compress.engines import ours_one
from reelflow.core.imaging import ImagePolicy

__all__ = ["profile_stages"]

# Pillow's C entry points, matched by name: the time spent inside them (tottime)
_NEEDLES = {
    "decode": ("ImagingDecoder",),
    "encode": ("WebPEncode", "ImagingEncoder"),
}


def profile_stages(datas: Sequence[bytes], policy: ImagePolicy) -> dict[str, float]:
    """Mean CPU ms per image in decoding, resizing and WebP encoding, by cProfile.

    decode and encode: time inside Pillow's decoder and encoder; resize: the whole of
    reelflow.core.imaging._resize (Pillow's or libvips' resampler, with libvips' copies in and out).
    The rest of compress_image (sniffing, EXIF, mode conversions, transposes, Python) is
    'other'. One pass, one thread, separate from the timed rounds.
    """
    profiler = cProfile.Profile(time.process_time)  # CPU time: steady on a busy machine
    cpu = time.process_time()
    profiler.enable()
    for data in datas:
        ours_one(data, policy)
    profiler.disable()
    total = time.process_time() - cpu
    stats: dict[tuple[str, int, str], tuple[Any, ...]] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    stages = dict.fromkeys(("decode", "resize", "encode"), 0.0)
    for (file, _line, name), (_cc, _nc, tottime, cumtime, _callers) in stats.items():
        if name == "_resize" and file.endswith("imaging.py"):
            stages["resize"] += cumtime
            continue
        for stage, needles in _NEEDLES.items():
            if any(n in name for n in needles):
                stages[stage] += tottime
                break
    n = max(1, len(datas))
    out = {k: round(v / n * 1000, 2) for k, v in stages.items()}
    out["other"] = round(max(0.0, total - sum(stages.values())) / n * 1000, 2)
    out["total"] = round(total / n * 1000, 2)
    return out

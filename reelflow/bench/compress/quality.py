"""Quality: the SSIM of every engine's output against a full-resolution LANCZOS reference."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from PIL import Image, ImageOps

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = ["ssim_scores"]

_LANCZOS = Image.Resampling.LANCZOS


def ssim_scores(
    datas: Sequence[bytes], engines: Mapping[str, Sequence[bytes | None]]
) -> dict[str, list[float]]:
    """Per engine, the SSIM of each output against its source's LANCZOS reference.

    One source at a time: decoded at full resolution, turned upright (EXIF), downscaled with
    Pillow's LANCZOS to each output's size (once per size), compared in luma. Outputs that are
    missing or smaller than the 11x11 window are skipped.
    """
    from reelflow.bench.ssim import luma, ssim  # numpy: loaded only when scoring

    scores: dict[str, list[float]] = {name: [] for name in engines}
    for index, data in enumerate(datas):
        outputs = {name: outs[index] for name, outs in engines.items() if outs[index] is not None}
        if not outputs:
            continue
        with Image.open(io.BytesIO(data)) as im:
            full = ImageOps.exif_transpose(im)
            full.load()
        references: dict[tuple[int, int], NDArray[np.uint8]] = {}
        for name, output in outputs.items():
            assert output is not None
            with Image.open(io.BytesIO(output)) as out:
                if min(out.size) < 11:
                    continue
                if out.size not in references:
                    scaled = full if full.size == out.size else full.resize(out.size, _LANCZOS)
                    references[out.size] = luma(scaled)
                scores[name].append(ssim(references[out.size], luma(out)))
    return scores

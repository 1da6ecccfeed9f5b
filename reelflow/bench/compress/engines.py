"""The compressors compared in-process: ours, the naive Pillow baseline, the pyvips variants.

Each takes the source bytes and returns the WebP (or, for ours, the `CompressedImage`), or None
when it refuses the input. sharp runs in node: reelflow.bench.compress.sharp.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from PIL import Image, ImageOps

from reelflow.core.errors import ReelflowError
from reelflow.core.imaging import CompressedImage, ImagePolicy, compress_image

__all__ = ["ours_one", "ours_round", "pillow_naive", "pyvips_engines"]


def ours_one(data: bytes, policy: ImagePolicy) -> CompressedImage | None:
    """The project's own path on one image; None where the flow would record and skip it."""
    try:
        return compress_image(data, policy)
    except ReelflowError:  # TooLarge / UnsupportedMedia: the flow would record and skip it
        return None


def ours_round(
    datas: Sequence[bytes], threads: int, policy: ImagePolicy
) -> list[CompressedImage | None]:
    """Our path over every image, on `threads` threads."""
    if threads == 1:
        return [ours_one(d, policy) for d in datas]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(functools.partial(ours_one, policy=policy), datas))


def pillow_naive(data: bytes) -> bytes | None:
    """The baseline without node: open, EXIF transpose, LANCZOS fit in 1280x720, WebP q85 m4."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            upright = ImageOps.exif_transpose(im)
            upright.thumbnail((1280, 720), Image.Resampling.LANCZOS, reducing_gap=None)
            if upright.mode not in ("RGB", "RGBA"):
                upright = upright.convert("RGBA" if "A" in upright.mode else "RGB")
            out = io.BytesIO()
            upright.save(out, "WEBP", quality=85, method=4)
            return out.getvalue()
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def pyvips_engines(pyvips: Any) -> dict[str, Callable[[bytes], bytes | None]]:
    """sharp's pipeline in pyvips, and libvips' decode + resize feeding Pillow's WebP encoder.

    Both: vips_thumbnail (EXIF autorotate, JPEG shrink-on-load, lanczos3), fit 1280x720.
    """
    modes = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}

    def thumbnail(data: bytes) -> Any:
        return pyvips.Image.thumbnail_buffer(data, 1280, height=720, size="down")

    def vips_webp(data: bytes) -> bytes | None:
        try:
            return bytes(thumbnail(data).webpsave_buffer(Q=85, effort=4, keep="none"))
        except pyvips.Error:
            return None

    def pillow_webp(data: bytes) -> bytes | None:
        try:
            im = thumbnail(data).cast("uchar")
            mode = modes[im.bands]
            pixels = Image.frombuffer(mode, (im.width, im.height), im.write_to_memory(), "raw")
            out = io.BytesIO()
            pixels.convert("RGBA" if "A" in mode else "RGB").save(out, "WEBP", quality=85, method=4)
            return out.getvalue()
        except (pyvips.Error, KeyError):
            return None

    return {"pyvips": vips_webp, "pyvips-resize+pillow-webp": pillow_webp}

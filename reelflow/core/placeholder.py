"""Placeholders shown while a thumbnail loads: a ThumbHash and a dominant colour. Pure.

ThumbHash (https://evanw.github.io/thumbhash/) rather than BlurHash: it encodes the aspect
ratio and the alpha channel (thumbnails with transparency keep it, so should their
placeholder), its colours are closer, and it is ~25 bytes with no parameters to choose.
`thumb_hash` is a port of the reference encoder (evanw/thumbhash, MIT) with numpy for the DCT:
the PyPI ports are either pinned to Pillow < 11 or fail on images with alpha. It is computed
from a copy of at most 100x100 pixels, as the algorithm requires (BlurHash on a full-size
image took 12 s here). The dominant colour is the alpha-weighted mean of that copy: what a
card shows before even the ThumbHash is decoded.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image

__all__ = ["MAX_SIDE", "Placeholder", "placeholder_of", "thumb_hash"]

MAX_SIDE = 100  # ThumbHash encodes images of at most 100x100


@dataclass(frozen=True)
class Placeholder:
    """thumbhash: the ThumbHash bytes, base64 (standard alphabet, no padding);
    color: the dominant colour as '#rrggbb'."""

    thumbhash: str
    color: str


def _small_rgba(image: Image.Image) -> Image.Image:
    """An RGBA copy that fits in 100x100, aspect ratio kept (at least 1 pixel a side)."""
    rgba = image if image.mode == "RGBA" else image.convert("RGBA")
    scale = min(MAX_SIDE / rgba.width, MAX_SIDE / rgba.height, 1.0)
    if scale >= 1.0:
        return rgba
    size = (max(1, round(rgba.width * scale)), max(1, round(rgba.height * scale)))
    return rgba.resize(size, Image.Resampling.BOX)


def _dominant(small: Image.Image) -> str:
    """The alpha-weighted mean colour; a fully transparent image counts as black."""
    data = small.tobytes()
    red = green = blue = weight = 0
    for i in range(0, len(data), 4):
        alpha = data[i + 3]
        red += data[i] * alpha
        green += data[i + 1] * alpha
        blue += data[i + 2] * alpha
        weight += alpha
    if not weight:
        return "#000000"
    return f"#{round(red / weight):02x}{round(green / weight):02x}{round(blue / weight):02x}"


def _round(value: float) -> int:
    """JavaScript's Math.round (halves go up), as the reference encoder rounds."""
    return math.floor(value + 0.5)


def _encode_channel(
    channel: NDArray[np.float64], nx: int, ny: int
) -> tuple[float, list[float], float]:
    """DC term, AC terms scaled into 0..1, and their scale, in the reference's order."""
    h, w = channel.shape
    fx = np.cos(np.pi / w * np.outer(np.arange(nx), np.arange(w) + 0.5))  # (nx, w)
    fy = np.cos(np.pi / h * np.outer(np.arange(ny), np.arange(h) + 0.5))  # (ny, h)
    terms = fy @ channel @ fx.T / (w * h)  # (ny, nx)
    dc, ac = 0.0, []
    for cy in range(ny):
        cx = 0
        while cx * ny < nx * (ny - cy):
            if cx or cy:
                ac.append(float(terms[cy, cx]))
            else:
                dc = float(terms[cy, cx])
            cx += 1
    scale = max((abs(f) for f in ac), default=0.0)
    if scale:
        ac = [0.5 + 0.5 / scale * f for f in ac]
    return dc, ac, scale


def thumb_hash(width: int, height: int, rgba: bytes) -> bytes:
    """The ThumbHash of `width` x `height` RGBA pixels (at most 100x100)."""
    if width > MAX_SIDE or height > MAX_SIDE:
        raise ValueError(f"{width}x{height} does not fit in {MAX_SIDE}x{MAX_SIDE}")
    pixels = np.frombuffer(rgba, dtype=np.uint8).reshape(height, width, 4).astype(np.float64)
    alpha = pixels[..., 3] / 255
    total = float(alpha.sum())
    average = [0.0, 0.0, 0.0]
    if total:
        average = [float((alpha * pixels[..., c]).sum()) / 255 / total for c in range(3)]
    has_alpha = total < width * height
    limit = 5 if has_alpha else 7  # fewer luminance terms when alpha takes room
    lx = max(1, _round(limit * width / max(width, height)))
    ly = max(1, _round(limit * height / max(width, height)))
    # RGBA -> LPQA, composited atop the average colour.
    r, g, b = (average[c] * (1 - alpha) + alpha / 255 * pixels[..., c] for c in range(3))
    l_dc, l_ac, l_scale = _encode_channel((r + g + b) / 3, max(3, lx), max(3, ly))
    p_dc, p_ac, p_scale = _encode_channel((r + g) / 2 - b, 3, 3)
    q_dc, q_ac, q_scale = _encode_channel(r - g, 3, 3)
    landscape = width > height
    header24 = (
        _round(63 * l_dc)
        | (_round(31.5 + 31.5 * p_dc) << 6)
        | (_round(31.5 + 31.5 * q_dc) << 12)
        | (_round(31 * l_scale) << 18)
        | (int(has_alpha) << 23)
    )
    header16 = (
        (ly if landscape else lx)
        | (_round(63 * p_scale) << 3)
        | (_round(63 * q_scale) << 9)
        | (int(landscape) << 15)
    )
    out = [header24 & 255, (header24 >> 8) & 255, header24 >> 16, header16 & 255, header16 >> 8]
    channels = [l_ac, p_ac, q_ac]
    if has_alpha:
        a_dc, a_ac, a_scale = _encode_channel(alpha, 5, 5)
        out.append(_round(15 * a_dc) | (_round(15 * a_scale) << 4))
        channels.append(a_ac)
    start = len(out)
    index = 0
    for terms in channels:
        for f in terms:
            position = start + (index >> 1)
            if position == len(out):
                out.append(0)
            out[position] |= _round(15 * f) << ((index & 1) << 2)
            index += 1
    return bytes(out)


def placeholder_of(image: Image.Image) -> Placeholder:
    """The placeholder of an upright, decoded image (any mode; it is read, not changed)."""
    small = _small_rgba(image)
    hashed = thumb_hash(small.width, small.height, small.tobytes())
    return Placeholder(
        thumbhash=base64.b64encode(hashed).decode("ascii").rstrip("="),
        color=_dominant(small),
    )

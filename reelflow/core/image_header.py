"""The dimensions an image file declares in its header, read without any decoder. Pure.

The pixel cap must hold whatever a decoder does: a file whose header declares 2.5 gigapixels
but whose body Pillow cannot decode, or a format Pillow opens lazily (a 17000x17000 AVIF), is
refused on what it *says* it is. Each reader looks only at the first bytes of the file and
returns None when it cannot find a size (the decoder's own check then applies).

    declared_size(data, "png") -> (width, height) | None
"""

from __future__ import annotations

import struct
from collections.abc import Callable

__all__ = ["declared_size"]

_HEAD = 1 << 20  # readers never look past the first MiB


def _png(data: bytes) -> tuple[int, int] | None:
    # Signature (8), IHDR length (4), "IHDR", width, height (big-endian).
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    if not (0 < width < 2**31 and 0 < height < 2**31):  # not a PNG: the decoder refuses it
        return None
    return width, height


def _gif(data: bytes) -> tuple[int, int] | None:
    if len(data) < 10:
        return None
    width, height = struct.unpack("<HH", data[6:10])
    return width, height


def _bmp(data: bytes) -> tuple[int, int] | None:
    if len(data) < 26:
        return None
    header_size = struct.unpack("<I", data[14:18])[0]
    if header_size == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
        width, height = struct.unpack("<HH", data[18:22])
        return width, height
    width, height = struct.unpack("<ii", data[18:26])
    return abs(width), abs(height)  # a negative height is a top-down bitmap


# JPEG start-of-frame markers (baseline, progressive, lossless, ...), not DHT/JPG/DAC.
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length
            i += 2
            continue
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in _SOF:
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    return None


def _webp(data: bytes) -> tuple[int, int] | None:
    if len(data) < 30:
        return None
    chunk = data[12:16]
    if chunk == b"VP8X":
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
        return width, height
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _tiff(data: bytes) -> tuple[int, int] | None:
    order = {b"II": "<", b"MM": ">"}.get(data[:2])
    if order is None or len(data) < 8:
        return None
    if struct.unpack(order + "H", data[2:4])[0] != 42:  # BigTIFF (43): left to the decoder
        return None
    offset = struct.unpack(order + "I", data[4:8])[0]
    if offset + 2 > len(data):
        return None
    count = struct.unpack(order + "H", data[offset : offset + 2])[0]
    found: dict[int, int] = {}
    for n in range(count):
        entry = offset + 2 + 12 * n
        if entry + 12 > len(data):
            break
        tag, kind = struct.unpack(order + "HH", data[entry : entry + 4])
        if tag in (256, 257):  # ImageWidth, ImageLength: SHORT (3) or LONG (4)
            fmt = order + ("H" if kind == 3 else "I")
            size = 2 if kind == 3 else 4
            found[tag] = struct.unpack(fmt, data[entry + 8 : entry + 8 + size])[0]
    if 256 in found and 257 in found:
        return found[256], found[257]
    return None


def _isobmff(data: bytes) -> tuple[int, int] | None:
    """AVIF/HEIF: the largest 'ispe' (image spatial extents) property declared."""
    best: tuple[int, int] | None = None
    start = 0
    while True:
        at = data.find(b"ispe", start)
        if at < 4 or at + 16 > len(data):
            return best
        width, height = struct.unpack(">II", data[at + 8 : at + 16])  # after version/flags
        if best is None or width * height > best[0] * best[1]:
            best = (width, height)
        start = at + 4


_READERS: dict[str, Callable[[bytes], tuple[int, int] | None]] = {
    "png": _png,
    "gif": _gif,
    "bmp": _bmp,
    "jpg": _jpeg,
    "webp": _webp,
    "tiff": _tiff,
    "avif": _isobmff,
    "heic": _isobmff,
    "heif": _isobmff,
}


def declared_size(data: bytes, ext: str) -> tuple[int, int] | None:
    """(width, height) the header of `data` (sniffed as `ext`) declares, or None."""
    reader = _READERS.get(ext)
    if reader is None:
        return None
    try:
        return reader(data[:_HEAD])
    except (struct.error, IndexError, ValueError):
        return None

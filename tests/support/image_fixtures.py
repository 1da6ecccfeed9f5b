"""Images as a user's CDN sends them, generated: every mode in every container Pillow can
write, every EXIF orientation in every container that carries one, animations, truncated
files and headers that lie. Each fixture says what it holds, so the test can check the output.

The picture: a grey gradient with a white marker in the top-left corner of the *upright*
image (so a wrong orientation moves it), and, where the fixture has alpha, a transparent
bottom-right quadrant.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, features

SIZE = (1440, 810)  # larger than the large rung: every rung is resized
ORIENTED_SIZE = (480, 288)  # not 16:9, so a swapped width and height shows
CONTAINERS = ("JPEG", "PNG", "TIFF", "WEBP", "GIF", "BMP") + (
    ("AVIF",) if features.check("avif") else ()
)
# mode name -> (Pillow mode, has alpha, how it is made from the RGBA picture)
MODES = (
    "1",
    "L",
    "LA",
    "P",
    "P+transparency",
    "RGB",
    "RGB+tRNS",
    "L+tRNS",
    "I;16+tRNS",
    "RGBA",
    "CMYK",
    "I;16",
    "I;16B",
    "I",
    "F",
)
ALPHA_MODES = {"LA", "P+transparency", "RGB+tRNS", "L+tRNS", "I;16+tRNS", "RGBA"}
_INVERSE = {  # stored = inverse(orientation's transpose)(upright)
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}
KEY_GREY = 7  # the tRNS colour key: a grey no pixel of the picture has but the clear ones


@dataclass(frozen=True)
class Fixture:
    name: str
    data: bytes
    expect: str  # "image": a rendition (or the original, with a reason); "refused"
    alpha: bool = False
    width: int = 0  # upright
    height: int = 0
    animated: bool = False
    sixteen_bit: bool = False
    reference: Image.Image | None = None  # the upright picture, when not `picture()`


def picture(size: tuple[int, int], alpha: bool) -> Image.Image:
    """The upright RGBA picture: gradient, white marker top-left, clear bottom-right."""
    width, height = size
    ramp = np.linspace(40, 160, width, dtype=np.float64)[None, :].repeat(height, axis=0)
    grey = ramp + np.linspace(0, 30, height)[:, None]
    rgb = np.stack([grey, grey * 0.9, grey * 1.1], axis=-1).clip(0, 255).astype(np.uint8)
    rgb[: height // 5, : width // 5] = 255
    alpha_band = np.full((height, width), 255, dtype=np.uint8)
    if alpha:
        alpha_band[height // 2 :, width // 2 :] = 0
    return Image.fromarray(np.dstack([rgb, alpha_band]), "RGBA")


def _in_mode(rgba: Image.Image, mode: str) -> tuple[Image.Image, dict[str, object]]:
    """The picture in `mode`, and the save() arguments that mode needs."""
    clear = np.asarray(rgba)[..., 3] == 0
    grey = rgba.convert("L")
    if mode in ("L+tRNS", "I;16+tRNS"):
        values = np.asarray(grey).copy()
        values[clear] = KEY_GREY
        if mode == "L+tRNS":
            return Image.fromarray(values, "L"), {"transparency": KEY_GREY}
        wide = values.astype(np.uint16) * 257
        return Image.frombytes("I;16", grey.size, wide.astype("<u2").tobytes()), {
            "transparency": KEY_GREY * 257
        }
    if mode == "RGB+tRNS":
        values = np.asarray(rgba.convert("RGB")).copy()
        values[clear] = (KEY_GREY, KEY_GREY, KEY_GREY)
        return Image.fromarray(values, "RGB"), {"transparency": (KEY_GREY,) * 3}
    if mode == "P+transparency":
        pal = rgba.convert("RGB").quantize(255)
        values = np.asarray(pal).copy()
        values[clear] = 255
        image = Image.fromarray(values, "P")
        image.putpalette(pal.getpalette()[: 255 * 3] + [0, 0, 0])
        return image, {"transparency": 255}
    if mode == "P":
        return rgba.convert("RGB").quantize(256), {}
    if mode in ("I;16", "I;16B"):
        wide = np.asarray(grey).astype(np.uint16) * 257
        order = "<u2" if mode == "I;16" else ">u2"
        return Image.frombytes(mode, grey.size, wide.astype(order).tobytes()), {}
    if mode == "I":
        wide = np.asarray(grey).astype(np.int32) * 257
        return Image.frombytes("I", grey.size, wide.astype("<i4").tobytes()), {}
    if mode == "F":
        unit = np.asarray(grey).astype(np.float32) / 255
        return Image.frombytes("F", grey.size, unit.astype("<f4").tobytes()), {}
    return rgba.convert(mode), {}


def _save(image: Image.Image, container: str, **options: object) -> bytes | None:
    """The encoded bytes, or None when Pillow cannot write this mode in this container."""
    out = io.BytesIO()
    if container == "AVIF":
        options.setdefault("speed", 10)
    try:
        image.save(out, container, **options)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    data = out.getvalue()
    try:  # Pillow wrote it: it must also read it back, or it is not a fixture of this mode
        with Image.open(io.BytesIO(data)) as check:
            check.load()
    except (OSError, ValueError, SyntaxError):
        return None
    return data


_WIDE = ("I;16", "I;16B", "I", "F")


def _read_back(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def mode_fixtures() -> Iterator[Fixture]:
    """Each mode in each container that takes it. A container that silently narrows a wide
    mode (16-bit or float saved as clipped 8-bit by Pillow itself) holds another picture,
    not this mode: it is left out. Alpha is what the file really carries (a JPEG drops a
    tRNS key, a GIF keeps one)."""
    for mode in MODES:
        image, options = _in_mode(picture(SIZE, mode in ALPHA_MODES), mode)
        for container in CONTAINERS:
            data = _save(image, container, **options)
            if data is None:
                continue
            stored = _read_back(data)
            if image.mode in _WIDE and stored.mode != image.mode:
                continue
            yield Fixture(
                f"{container}/{mode}",
                data,
                "image",
                alpha=stored.has_transparency_data,
                width=SIZE[0],
                height=SIZE[1],
                sixteen_bit=image.mode in _WIDE,
            )


def orientation_fixtures() -> Iterator[Fixture]:
    upright = picture(ORIENTED_SIZE, alpha=False).convert("RGB")
    for orientation in range(1, 9):
        stored = upright.transpose(_INVERSE[orientation]) if orientation != 1 else upright
        exif = Image.Exif()
        exif[0x0112] = orientation
        for container, options in (
            ("JPEG", {"exif": exif.tobytes(), "quality": 92}),
            ("PNG", {"exif": exif.tobytes()}),
            ("WEBP", {"exif": exif.tobytes(), "quality": 92}),
            ("TIFF", {"tiffinfo": {0x0112: orientation}}),
        ):
            data = _save(stored, container, **options)
            assert data is not None, f"{container} with orientation {orientation}"
            yield Fixture(
                f"{container}/orientation-{orientation}",
                data,
                "image",
                width=ORIENTED_SIZE[0],
                height=ORIENTED_SIZE[1],
            )


def animated_fixtures() -> Iterator[Fixture]:
    first = picture((640, 360), alpha=False).convert("RGB")
    frames = [
        first,
        Image.new("RGB", first.size, (200, 0, 0)),
        Image.new("RGB", first.size, (0, 0, 200)),
    ]
    for container in ("GIF", "PNG", "WEBP"):
        data = _save(frames[0], container, save_all=True, append_images=frames[1:], duration=100)
        assert data is not None, container
        yield Fixture(f"{container}/animated", data, "image", width=640, height=360, animated=True)


def tiny_fixtures() -> Iterator[Fixture]:
    """Two-colour images smaller than every rung, whose WebP would be larger: the original
    is kept (browsers show GIF and PNG as they are)."""
    noise = np.random.default_rng(7).integers(0, 2, (18, 32), dtype=np.uint8) * 255
    noise[:5, :8] = 255  # the marker, top-left
    noise[:5, -8:] = 0
    tiny = Image.fromarray(noise, "L").convert("RGB")
    for container in ("GIF", "PNG"):
        data = _save(tiny.quantize(2), container, optimize=True)
        assert data is not None, container
        yield Fixture(f"{container}/tiny", data, "image", width=32, height=18, reference=tiny)


def broken_fixtures() -> Iterator[Fixture]:
    """Truncated files, and headers that declare sizes far over the pixel cap."""
    image = picture((800, 450), alpha=False).convert("RGB")
    for container in CONTAINERS:
        data = _save(image, container)
        assert data is not None, container
        yield Fixture(f"{container}/truncated", data[: len(data) * 6 // 10], "refused")
    yield from _lying(image)


def _lying(image: Image.Image) -> Iterator[Fixture]:
    huge = 50_000
    png = bytearray(_save(image, "PNG") or b"")
    png[16:24] = struct.pack(">II", huge, huge)  # IHDR (its CRC is now wrong too)
    yield Fixture("PNG/lying-header", bytes(png), "refused")
    gif = bytearray(_save(image, "GIF") or b"")
    gif[6:10] = struct.pack("<HH", 65_535, 65_535)
    yield Fixture("GIF/lying-header", bytes(gif), "refused")
    bmp = bytearray(_save(image, "BMP") or b"")
    bmp[18:26] = struct.pack("<ii", huge, huge)
    yield Fixture("BMP/lying-header", bytes(bmp), "refused")
    jpeg = bytearray(_save(image, "JPEG") or b"")
    at = next(i for i in range(2, len(jpeg) - 1) if jpeg[i] == 0xFF and jpeg[i + 1] == 0xC0)
    jpeg[at + 5 : at + 9] = struct.pack(">HH", 60_000, 60_000)
    yield Fixture("JPEG/lying-header", bytes(jpeg), "refused")
    webp = bytearray(_save(image.convert("RGBA"), "WEBP", lossless=True) or b"")
    if webp[12:16] == b"VP8L":
        bits = (16_000 - 1) | ((16_000 - 1) << 14)
        webp[21:25] = bits.to_bytes(4, "little")
        yield Fixture("WEBP/lying-header", bytes(webp), "refused")
    tiff = bytearray(_save(image, "TIFF") or b"")
    offset = struct.unpack("<I", tiff[4:8])[0]
    for n in range(struct.unpack("<H", tiff[offset : offset + 2])[0]):
        entry = offset + 2 + 12 * n
        tag, kind = struct.unpack("<HH", tiff[entry : entry + 4])
        if tag in (256, 257):
            fmt = "<H" if kind == 3 else "<I"
            size = 2 if kind == 3 else 4
            tiff[entry + 8 : entry + 8 + size] = struct.pack(fmt, 60_000)
    yield Fixture("TIFF/lying-header", bytes(tiff), "refused")
    if "AVIF" in CONTAINERS:
        avif = bytearray(_save(image, "AVIF") or b"")
        at = avif.find(b"ispe")
        avif[at + 8 : at + 16] = struct.pack(">II", 17_000, 17_000)
        yield Fixture("AVIF/17000x17000", bytes(avif), "refused")


def every_fixture() -> list[Fixture]:
    return [
        *mode_fixtures(),
        *orientation_fixtures(),
        *animated_fixtures(),
        *tiny_fixtures(),
        *broken_fixtures(),
    ]

"""Thumbnail compression: bytes in, upright WebP (or the untouched original) out.

Pure: no Prefect, boto3, SQLAlchemy or settings. Callers build an `ImagePolicy` from settings.

Rules, in order:
1. The bytes must be an image by their magic numbers (`reelflow.core.media.sniff`), else
   `UnsupportedMedia`.
2. Only the header is read before the pixel cap is checked, so a decompression bomb is refused
   with `TooLarge` before any pixel is decoded. Pillow's own bomb guard is turned into
   `TooLarge` too. Nothing global (`Image.MAX_IMAGE_PIXELS`, warning filters) is changed.
3. EXIF orientation is applied; the output carries no EXIF, so no orientation tag.
4. The image is fitted within max_width x max_height, aspect ratio kept, never upscaled, with a
   Lanczos-3 filter: libvips' (through pyvips, ~4x faster) when the policy's resampler is "auto"
   and pyvips is installed, else Pillow's LANCZOS. Everything else (decoding, modes, EXIF, ICC,
   encoding, fallbacks) is Pillow either way; libvips only resamples 8-bit L and RGB pixels.
5. WebP at the policy's quality. The original bytes are kept instead (compressed=False, with
   their own extension and Content-Type) only when they decoded completely (every frame of an
   animation) and the WebP would not be smaller, or WebP encoding failed. Bytes that do not
   decode (truncated, a JPEG header in front of HTML, no decoder installed) are refused with
   `UnsupportedMedia`: nothing unchecked is stored as an image.
6. Decode memory is bounded: before any pixel is decoded, the peak a decode of this format and
   mode needs is estimated from `DECODE_BYTES_PER_PIXEL` (measured; `reelflow bench
   decode-memory` re-measures it) and refused with `TooLarge` over `policy.max_decode_bytes`.
   JPEG decodes at 1/2, 1/4 or 1/8 scale (draft) when that still leaves 1.5x the target, so
   big JPEGs cost little; libvips resamples only images up to `VIPS_MAX_PIXELS`, since handing
   it the pixels costs one more copy of them.
7. An ICC profile larger than `policy.max_icc_bytes` is applied (pixels converted to sRGB) and
   dropped; smaller ones are carried into the WebP. No other metadata is carried.
"""

from __future__ import annotations

import functools
import io
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from reelflow.core.errors import TooLarge, UnsupportedMedia
from reelflow.core.image_header import declared_size
from reelflow.core.ladder import Rung, RungSpec
from reelflow.core.media import SNIFF_BYTES, expect_kind
from reelflow.core.placeholder import Placeholder, placeholder_of

__all__ = [
    "DECODE_BYTES_PER_PIXEL",
    "VIPS_MAX_PIXELS",
    "CompressedImage",
    "ImagePolicy",
    "Rendering",
    "Rendition",
    "compress_image",
    "render_ladder",
    "decode_estimate",
    "resampler_in_use",
]

_WEBP = ("image/webp", "webp")
_ORIENTATION_TAG = 0x0112
# Same table as PIL.ImageOps.exif_transpose; applied after the resize, on the small image.
_TRANSPOSE: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Pillow's names for the formats `sniff` recognises; Image.open tries only the sniffed one.
_PILLOW_FORMAT = {
    "jpg": "JPEG",
    "png": "PNG",
    "gif": "GIF",
    "webp": "WEBP",
    "avif": "AVIF",
    "bmp": "BMP",
    "tiff": "TIFF",
    "heic": "HEIF",
    "heif": "HEIF",
    "jxl": "JXL",
}
# What Pillow raises on corrupt, truncated or unsupported input (its fuzzers see these).
# Bombs are caught before these, and TooLarge/UnsupportedMedia are none of them.
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # includes UnidentifiedImageError and "image file is truncated"
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    struct.error,
    ZeroDivisionError,
    NotImplementedError,
)
_BOMBS = (Image.DecompressionBombError, Image.DecompressionBombWarning)
_REDUCING_GAP = 3.0  # Pillow: ">= 3.0 is indistinguishable from fair resampling"
# JPEG DCT scaling (1/2, 1/4, 1/8 at decode) keeps at least this many times the target size,
# so LANCZOS still has 1.5x oversampling to work from. Measured on photo-like 4K -> 720p:
# 36.55 dB against a full-size fair downscale vs 36.56 dB decoding at full size (factor 2 never
# drafts there), at 100 ms instead of 164 ms.
_DRAFT_FACTOR = 1.5
# Modes whose pixels libvips resamples (8-bit, no alpha to premultiply): bands per pixel.
_VIPS_BANDS = {"L": 1, "RGB": 3}
# libvips gets a copy of the pixels (Image.tobytes): worth it for the common sizes only.
VIPS_MAX_PIXELS = 16_000_000

# Peak memory of one compress call, in bytes per decoded pixel, by Pillow mode (the decode
# buffer plus the conversions and resampling copies that follow). Measured with
# `reelflow bench decode-memory` (Pillow 12, 2 cores, glibc): peak RSS growth over the
# pixels decoded, rounded up. Formats whose decoders hold their own copies of the frame have
# rows of their own (WEBP, AVIF, HEIF: the larger of format and mode applies). A mode not
# listed costs the most of any.
DECODE_BYTES_PER_PIXEL: dict[str, float] = {
    "1": 3.0,
    "L": 3.0,
    "P": 10.5,  # a palette with transparency becomes RGBA before resampling
    "LA": 10.5,
    "PA": 10.5,
    "RGB": 6.5,
    "YCbCr": 6.5,
    "RGBA": 10.5,
    "CMYK": 12.5,
    "I;16": 12.5,
    "I;16B": 12.5,
    "I;16L": 12.5,
    "I": 12.5,
    "F": 12.5,
    "WEBP": 20.0,
    "AVIF": 10.5,
    "HEIF": 10.5,
}
# libvips' share when it resamples: the pixels handed over, and its own output.
_VIPS_EXTRA_BYTES_PER_BAND = 1.5


@dataclass(frozen=True)
class ImagePolicy:
    """How to compress: the bounding box, WebP quality and method, the pixel cap, the resampler.

    resampler "auto" resizes with libvips when pyvips is importable (same Lanczos-3 kernel and
    pixel geometry, about 4x faster than Pillow's on 1080p) and with Pillow otherwise; "pillow"
    always uses Pillow.
    """

    max_width: int = 1280
    max_height: int = 720
    quality: int = 85
    max_pixels: int = 40_000_000
    method: int = 4  # libwebp effort, 0 (fast) .. 6 (small)
    resampler: Literal["auto", "pillow"] = "auto"
    max_decode_bytes: int = 256 * 2**20  # estimated peak memory of one call
    max_icc_bytes: int = 32 * 1024  # kept for settings compatibility; every profile is applied
    avif_speed: int = 8  # libavif effort, 0 (slow, small) .. 10 (fast)

    def __post_init__(self) -> None:
        if self.max_width < 1 or self.max_height < 1:
            raise ValueError("max_width and max_height must be at least 1")
        if not 0 <= self.quality <= 100:
            raise ValueError("quality must be within 0..100")
        if self.max_pixels < 1:
            raise ValueError("max_pixels must be at least 1")
        if not 0 <= self.method <= 6:
            raise ValueError("method must be within 0..6")
        if not 0 <= self.avif_speed <= 10:
            raise ValueError("avif_speed must be within 0..10")
        if self.resampler not in ("auto", "pillow"):
            raise ValueError("resampler must be 'auto' or 'pillow'")
        if self.max_decode_bytes < 1 or self.max_icc_bytes < 0:
            raise ValueError("max_decode_bytes must be positive and max_icc_bytes not negative")


@dataclass(frozen=True)
class CompressedImage:
    """The bytes to store and what they are.

    `compressed` is False when `data` is the original, unchanged; `note` then says why.
    `width`/`height` are the upright dimensions, None if not even the header could be read.
    """

    data: bytes
    content_type: str
    ext: str
    width: int | None
    height: int | None
    input_bytes: int
    output_bytes: int
    compressed: bool
    note: str

    @property
    def percent_saved(self) -> float:
        """How much smaller the output is than the input, in percent (0.0 when kept)."""
        if self.input_bytes <= 0:
            return 0.0
        return (1 - self.output_bytes / self.input_bytes) * 100

    def describe(self) -> str:
        """The log line's facts, e.g. '487.3KB -> 123.5KB (74.7% smaller)'."""
        before = f"{self.input_bytes / 1024:.1f}KB"
        if not self.compressed:
            return f"{before} kept as original {self.ext} ({self.note})"
        return f"{before} -> {self.output_bytes / 1024:.1f}KB ({self.percent_saved:.1f}% smaller)"


def _fit(width: int, height: int, max_width: int, max_height: int) -> tuple[int, int]:
    """The largest size within the box with the same aspect ratio; never larger than the input."""
    scale = min(max_width / width, max_height / height, 1.0)
    if scale >= 1.0:
        return width, height
    return (
        max(1, min(max_width, round(width * scale))),
        max(1, min(max_height, round(height * scale))),
    )


def _orientation(im: Image.Image) -> int:
    value = im.getexif().get(_ORIENTATION_TAG, 1)
    return value if isinstance(value, int) and value in _TRANSPOSE else 1


def _upright_size(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    return (size[1], size[0]) if orientation in (5, 6, 7, 8) else size


def _sixteen_to_eight(values: NDArray[Any], mode: str) -> NDArray[np.uint8]:
    """16-bit (and 32-bit integer or float) grey to 8 bits by its nominal range, not its
    extrema: 16-bit data keeps its top byte (v >> 8), so a dark image stays dark. No array
    wider than the decoded one is made (decode memory is budgeted per mode)."""
    out: NDArray[np.uint8]
    if mode.startswith("I;16"):
        out = (values >> 8).astype(np.uint8)
        return out
    if mode == "F":
        high = float(values.max()) if values.size else 0.0
        scaled = values * np.float32(255.0) if high <= 1.0 else values
        out = np.clip(scaled, 0, 255).astype(np.uint8)
        return out
    high = int(values.max()) if values.size else 0  # mode I: 32-bit signed
    if high <= 255:
        out = np.clip(values, 0, 255).astype(np.uint8)
    elif high <= 65535:
        out = (np.clip(values, 0, 65535) >> 8).astype(np.uint8)
    else:
        out = (np.clip(values, 0, None) // max(1, -(-high // 255))).astype(np.uint8)
    return out


def _normalize(im: Image.Image) -> Image.Image:
    """The decoded frame as 8-bit L, LA, RGB or RGBA, keeping alpha wherever the source has
    it: an alpha channel, a palette's transparency, or a tRNS colour key (L, RGB, 1, I;16)."""
    mode = im.mode
    key = im.info.get("transparency")
    if mode in ("RGBA", "LA"):
        return im
    if mode in ("RGB", "L", "1"):
        if key is not None:  # tRNS: Pillow turns the colour key into alpha
            return im.convert("RGBA" if mode == "RGB" else "LA")
        return im.convert("L") if mode == "1" else im
    if mode in ("P", "PA"):
        return im.convert("RGBA" if im.has_transparency_data else "RGB")
    if mode in ("RGBa", "La"):
        return im.convert("RGBA" if mode == "RGBa" else "LA")
    if mode.startswith("I") or mode == "F":
        values = np.asarray(im)
        grey = Image.fromarray(_sixteen_to_eight(values, mode), "L")
        if isinstance(key, int) and not isinstance(key, bool):
            alpha = np.where(values == key, 0, 255).astype(np.uint8)
            return Image.merge("LA", (grey, Image.fromarray(alpha, "L")))
        return grey
    if mode == "CMYK":
        icc = im.info.get("icc_profile")
        if icc:
            converted = _to_srgb(im, icc, "RGB")
            if converted is not None:
                return converted
        return im.convert("RGB")
    return im.convert("RGB")  # YCbCr, LAB, HSV, RGBX, ...


@functools.cache
def _pyvips() -> Any | None:
    """The pyvips module if it and libvips load (pyvips + pyvips-binary), else None.

    libvips' operation cache is switched off: every image is different, so it would only
    hold up to 100 MB of pixels per worker for nothing.
    """
    try:
        import pyvips  # type: ignore[import-not-found, unused-ignore]
    except (ImportError, OSError):  # not installed, or libvips itself missing
        return None
    pyvips.cache_set_max(0)
    pyvips.cache_set_max_mem(0)
    return pyvips


def _resize_vips(
    im: Image.Image, target: tuple[int, int], box: tuple[float, float, float, float] | None
) -> Image.Image | None:
    """Lanczos-3 resize of a whole L/RGB image by libvips; None when libvips cannot do it.

    Only whole images: a JPEG draft box that is not the decoded size (odd dimensions decoded
    at 1/2, 1/4 or 1/8) is left to Pillow, since libvips centres its output on the input and
    would shift the picture by a fraction of a pixel there.
    """
    vips = _pyvips()
    bands = _VIPS_BANDS.get(im.mode)
    if vips is None or bands is None or (box is not None and box != (0, 0, *im.size)):
        return None
    if im.width * im.height > VIPS_MAX_PIXELS:
        return None
    width, height = target
    try:
        small = vips.Image.new_from_memory(im.tobytes(), im.width, im.height, bands, "uchar")
        small = small.resize(
            width / im.width, vscale=height / im.height, kernel="lanczos3", gap=_REDUCING_GAP
        )
        if (small.width, small.height) != target:
            return None
        pixels = small.write_to_memory()
    except vips.Error:  # e.g. a libvips too old for `gap`: Pillow does it instead
        return None
    return Image.frombytes(im.mode, target, pixels)


def _resize(
    im: Image.Image,
    target: tuple[int, int],
    box: tuple[float, float, float, float] | None,
    policy: ImagePolicy,
) -> Image.Image:
    if policy.resampler == "auto":
        resized = _resize_vips(im, target, box)
        if resized is not None:
            return resized
    return im.resize(target, Image.Resampling.LANCZOS, box=box, reducing_gap=_REDUCING_GAP)


def resampler_in_use(policy: ImagePolicy = ImagePolicy()) -> str:
    """What resizes L/RGB images under `policy`: 'libvips X.Y.Z' or 'pillow'."""
    vips = _pyvips() if policy.resampler == "auto" else None
    if vips is None:
        return "pillow"
    return "libvips " + ".".join(str(vips.version(i)) for i in range(3))


def decode_estimate(
    pillow_format: str, mode: str, size: tuple[int, int], policy: ImagePolicy
) -> int:
    """Estimated peak bytes of compressing an image decoded at `size` in `mode`."""
    width, height = size
    pixels = width * height
    per_pixel = DECODE_BYTES_PER_PIXEL.get(mode, max(DECODE_BYTES_PER_PIXEL.values()))
    per_pixel = max(per_pixel, DECODE_BYTES_PER_PIXEL.get(pillow_format, 0.0))
    bands = _VIPS_BANDS.get(mode)
    if policy.resampler == "auto" and bands and pixels <= VIPS_MAX_PIXELS:
        per_pixel += bands * _VIPS_EXTRA_BYTES_PER_BAND
    return math.ceil(pixels * per_pixel)


def _frames(im: Image.Image) -> int:
    return int(getattr(im, "n_frames", 1) or 1)


def _decode_every_frame(im: Image.Image, policy: ImagePolicy) -> None:
    """Decode all frames of an animation (the first is loaded already), within the pixel cap
    counted over all of them: proof that a file kept as it is, is whole."""
    frames = _frames(im)
    if frames * im.width * im.height > policy.max_pixels:
        raise TooLarge(
            f"animation of {frames} frames of {im.width}x{im.height} is over the cap of "
            f"{policy.max_pixels} pixels to check"
        )
    for index in range(1, frames):
        im.seek(index)
        im.load()


def _to_srgb(im: Image.Image, icc: bytes, output_mode: str | None = None) -> Image.Image | None:
    """`im`'s pixels converted from the `icc` profile to sRGB; None if the profile cannot be
    used (its pixels are then taken as sRGB, as browsers do)."""
    from PIL import ImageCms

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(
            im, source, ImageCms.createProfile("sRGB"), outputMode=output_mode or im.mode
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None
    return converted if isinstance(converted, Image.Image) else None


def _is_srgb(icc: bytes) -> bool:
    """True for an sRGB profile (most cameras embed one): converting would change nothing."""
    from PIL import ImageCms

    try:
        described = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc)))
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return False
    return "srgb" in described.lower().replace(" ", "")


def _web_ready(im: Image.Image) -> Image.Image:
    if im.mode in ("RGB", "RGBA"):
        return im
    return im.convert("RGBA" if "A" in im.mode else "RGB")


@dataclass(frozen=True)
class Rendition:
    """One rung in one format: the bytes to store and what they are.

    `kept_original` is True when `data` is the source itself (it fitted the box as it is and
    the format would not be smaller, or encoding failed); `note` says why."""

    spec: RungSpec
    data: bytes
    content_type: str
    ext: str
    width: int
    height: int
    kept_original: bool = False
    note: str = ""


@dataclass(frozen=True)
class Rendering:
    """Every rendition asked for, in the order asked, plus the placeholder."""

    renditions: tuple[Rendition, ...]
    width: int  # the source, upright
    height: int
    input_bytes: int
    placeholder: Placeholder | None
    notes: tuple[str, ...] = ()


# Originals a browser shows as they are: the only ones ever kept instead of a rendition.
_KEEPABLE = frozenset({"jpg", "png", "gif", "webp", "avif"})
_AVIF = ("image/avif", "avif")
# A smaller rung is resized from the rung above when that one is at least this many times
# its size on both sides; SSIM then stays within 0.001 of resizing from the source
# (tests/unit/test_render_ladder.py measures it), at a fraction of the pixels.
DERIVE_FACTOR = 2.0


def _check_declared(data: bytes, ext: str, policy: ImagePolicy) -> None:
    """Refuse on the header's own word, whatever a decoder would make of the body."""
    declared = declared_size(data, ext)
    if declared is None:
        return
    width, height = declared
    if width * height > policy.max_pixels:
        raise TooLarge(
            f"image is {width}x{height} = {width * height} pixels, over the cap of "
            f"{policy.max_pixels} (REELFLOW_MAX_IMAGE_PIXELS), as its {ext} header declares"
        )


def _encode(im: Image.Image, spec: RungSpec, policy: ImagePolicy) -> tuple[bytes, str, str]:
    out = io.BytesIO()
    if spec.format == "avif":
        from PIL import features

        if not features.check("avif"):
            raise UnsupportedMedia(
                "AVIF renditions were asked for (REELFLOW_AVIF) but this Pillow cannot "
                "encode AVIF: install Pillow >= 11.3 or switch REELFLOW_AVIF off"
            )
        im.save(out, "AVIF", quality=spec.quality, speed=policy.avif_speed)
        return out.getvalue(), *_AVIF
    im.save(out, "WEBP", quality=spec.quality, method=policy.method)
    return out.getvalue(), *_WEBP


def render_ladder(
    data: bytes,
    specs: Sequence[RungSpec],
    policy: ImagePolicy = ImagePolicy(),
    *,
    placeholder: bool = True,
) -> Rendering:
    """Every spec's rendition of `data` (specs largest first, as Ladder.specs gives them),
    from one decode, and a placeholder of the image.

    Raises UnsupportedMedia when `data` is not an image or does not decode completely, and
    TooLarge when its header declares (or its decoder finds) more than `policy.max_pixels`
    pixels, or it would need more than `policy.max_decode_bytes` to decode.

    Animated GIF, PNG and WebP sources give a still of their first frame.
    """
    original = expect_kind(data[:SNIFF_BYTES], "image")
    pillow_format = _PILLOW_FORMAT.get(original.ext, "")
    Image.init()  # registers the plugins once; later calls return at once
    if pillow_format not in Image.OPEN:
        raise UnsupportedMedia(
            f"{original.ext} images cannot be checked here (no decoder installed): "
            "refused rather than stored unchecked"
        )
    _check_declared(data, original.ext, policy)
    notes: list[str] = []
    made: list[Rendition] = []
    try:
        with Image.open(io.BytesIO(data), formats=[pillow_format]) as im:
            # Only the header has been read so far: check the caps before decoding pixels.
            width, height = im.size
            if width * height > policy.max_pixels:
                raise TooLarge(
                    f"image is {width}x{height} = {width * height} pixels, "
                    f"over the cap of {policy.max_pixels} (REELFLOW_MAX_IMAGE_PIXELS)"
                )
            orientation = _orientation(im)  # may decode a PNG whose EXIF follows its pixels
            upright = _upright_size(im.size, orientation)
            boxes = list(dict.fromkeys((s.rung.max_width, s.rung.max_height) for s in specs))
            targets = {box: _fit(*upright, *box) for box in boxes}
            box: tuple[float, float, float, float] | None = None
            if boxes:
                largest = _upright_size(targets[boxes[0]], orientation)
                if largest != im.size:
                    # JPEG (and MPO) only: libjpeg decodes at 1/2, 1/4 or 1/8 scale while
                    # keeping at least 1.5x the largest rung. Other formats return None.
                    drafted = im.draft(
                        im.mode,
                        (
                            math.ceil(largest[0] * _DRAFT_FACTOR),
                            math.ceil(largest[1] * _DRAFT_FACTOR),
                        ),
                    )
                    if drafted is not None:
                        box = drafted[1]
            needed = decode_estimate(pillow_format, im.mode, im.size, policy)
            if needed > policy.max_decode_bytes:
                raise TooLarge(
                    f"a {width}x{height} {im.mode} {original.ext} needs about "
                    f"{needed / 2**20:.0f} MB to decode, over the limit of "
                    f"{policy.max_decode_bytes / 2**20:.0f} MB (REELFLOW_MAX_DECODE_MB)"
                )
            im.load()  # the first frame; the others only if the original is kept
            if _orientation(im) != orientation:
                # The decoder applied the orientation itself (Pillow's TIFF plugin does, and
                # reports the upright size even before decoding): the pixels are upright
                # already, so nothing is turned twice and the sizes are the decoded ones.
                orientation = 1
                box = None
                upright = im.size
                targets = {rung: _fit(*upright, *rung) for rung in boxes}
            icc = im.info.get("icc_profile")
            icc = icc if isinstance(icc, bytes) and icc else None
            work = _normalize(im)
            to_srgb = (
                work.mode in ("RGB", "RGBA")
                and im.mode != "CMYK"  # converted while normalizing
                and icc is not None
                and not _is_srgb(icc)
            )

            # Each rung's pixels, in stored orientation: resized from the rung above when that
            # is at least DERIVE_FACTOR times larger, else from the decoded image.
            pixels: dict[tuple[int, int], Image.Image] = {}
            above: Image.Image | None = None
            for rung_box in boxes:
                target = _upright_size(targets[rung_box], orientation)
                derive = above is not None and (
                    above.width >= DERIVE_FACTOR * target[0]
                    and above.height >= DERIVE_FACTOR * target[1]
                )
                if derive:
                    assert above is not None
                    small = _resize(above, target, None, policy)
                else:
                    small = work
                    if target != work.size or box is not None:
                        small = _resize(work, target, box, policy)
                    if to_srgb and icc:
                        converted = _to_srgb(small, icc)
                        if converted is None:
                            notes.append("ICC profile unreadable: pixels taken as sRGB")
                        small = converted or small
                pixels[rung_box] = small
                above = small
            if to_srgb:
                notes.append(f"ICC profile of {len(icc or b'')} bytes applied (sRGB)")

            for spec in specs:
                rung_box = (spec.rung.max_width, spec.rung.max_height)
                upright_pixels = pixels[rung_box]
                if orientation != 1:
                    upright_pixels = upright_pixels.transpose(_TRANSPOSE[orientation])
                ready = _web_ready(upright_pixels)
                as_is = (
                    ready.size == upright
                    and orientation == 1
                    and not to_srgb
                    and original.ext in _KEEPABLE
                )
                kept = ""  # why this rung is the original itself, when it is
                try:
                    encoded, content_type, ext = _encode(ready, spec, policy)
                except _DECODE_ERRORS as exc:
                    if original.ext not in _KEEPABLE:
                        raise UnsupportedMedia(
                            f"{spec.format} encoding of a {original.ext} failed "
                            f"({type(exc).__name__}: {exc}) and browsers cannot show the "
                            "original"
                        ) from None
                    kept = f"{spec.format} encoding failed: {type(exc).__name__}: {exc}"
                else:
                    if as_is and len(encoded) >= len(data):
                        kept = (
                            f"{spec.format} larger than original "
                            f"({len(encoded)} >= {len(data)} bytes)"
                        )
                    else:
                        made.append(Rendition(spec, encoded, content_type, ext, *ready.size))
                if kept:  # stored as it is: every frame must decode (it is whole)
                    _decode_every_frame(im, policy)
                    made.append(
                        Rendition(
                            spec,
                            data,
                            original.content_type,
                            original.ext,
                            *upright,
                            kept_original=True,
                            note=kept,
                        )
                    )

            found: Placeholder | None = None
            if placeholder:
                if pixels:
                    smallest = pixels[boxes[-1]]
                    if orientation != 1:
                        smallest = smallest.transpose(_TRANSPOSE[orientation])
                    found = placeholder_of(smallest)
                else:
                    found = placeholder_of(
                        _upright(
                            _resize(work, _fit(*work.size, 100, 100), None, policy), orientation
                        )
                    )
    except _BOMBS as exc:
        raise TooLarge(f"image refused as a decompression bomb: {exc}") from exc
    except _DECODE_ERRORS as exc:
        raise UnsupportedMedia(
            f"{original.ext} image does not decode ({type(exc).__name__}: {exc})"
        ) from None
    return Rendering(tuple(made), upright[0], upright[1], len(data), found, tuple(notes))


def _upright(im: Image.Image, orientation: int) -> Image.Image:
    return im.transpose(_TRANSPOSE[orientation]) if orientation != 1 else im


def compress_image(data: bytes, policy: ImagePolicy = ImagePolicy()) -> CompressedImage:
    """One rendition: fit `data` in the policy's box as WebP, or keep the original when that
    is better (render_ladder with a single rung, no placeholder).

    Raises what render_ladder raises: UnsupportedMedia, TooLarge.
    """
    rung = Rung("image", policy.max_width, policy.max_height, max(1, policy.quality))
    rendering = render_ladder(
        data, [RungSpec(rung, "webp", policy.quality)], policy, placeholder=False
    )
    (one,) = rendering.renditions
    return CompressedImage(
        data=one.data,
        content_type=one.content_type,
        ext=one.ext,
        width=one.width,
        height=one.height,
        input_bytes=len(data),
        output_bytes=len(one.data),
        compressed=not one.kept_original,
        note=one.note or "; ".join(rendering.notes),
    )

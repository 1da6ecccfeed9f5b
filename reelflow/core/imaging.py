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
from dataclasses import dataclass, replace
from typing import Any, Literal

from PIL import Image

from reelflow.core.errors import TooLarge, UnsupportedMedia
from reelflow.core.ladder import RungSpec
from reelflow.core.media import SNIFF_BYTES, expect_kind
from reelflow.core.placeholder import Placeholder

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
    max_icc_bytes: int = 32 * 1024  # larger ICC profiles are applied (to sRGB) and dropped

    def __post_init__(self) -> None:
        if self.max_width < 1 or self.max_height < 1:
            raise ValueError("max_width and max_height must be at least 1")
        if not 0 <= self.quality <= 100:
            raise ValueError("quality must be within 0..100")
        if self.max_pixels < 1:
            raise ValueError("max_pixels must be at least 1")
        if not 0 <= self.method <= 6:
            raise ValueError("method must be within 0..6")
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


def _resizable(im: Image.Image) -> Image.Image:
    """A mode that resizes well: palettes and bilevel images become RGB(A) before resampling."""
    mode = im.mode
    if mode in ("RGB", "RGBA", "L", "LA"):
        return im
    if mode in ("P", "PA", "1"):
        return im.convert("RGBA" if im.has_transparency_data else "RGB")
    if mode in ("RGBa", "La"):
        return im.convert("RGBA" if mode == "RGBa" else "LA")
    if mode.startswith("I") or mode == "F":
        # 16/32-bit grey or float: scale into 0..255 instead of clipping everything to white.
        wide = im if mode in ("I", "F") else im.convert("I")
        low, high = wide.getextrema()
        assert isinstance(high, (int, float))
        if mode == "F" and high <= 1.0:
            factor = 255.0
        elif high > 65535:
            factor = 255.0 / high
        elif high > 255:
            factor = 1 / 256
        else:
            factor = 1.0
        return wide.point(lambda v: v * factor).convert("L")
    return im.convert("RGB")  # CMYK, YCbCr, LAB, HSV, RGBX, ...


@functools.cache
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


def _webp_ready(im: Image.Image) -> Image.Image:
    if im.mode in ("RGB", "RGBA"):
        return im
    return im.convert("RGBA" if "A" in im.mode else "RGB")


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


def _to_srgb(im: Image.Image, icc: bytes) -> Image.Image:
    """`im`'s pixels converted from the `icc` profile to sRGB; unchanged if the profile is
    unreadable (its pixels are then taken as sRGB, as browsers do)."""
    from PIL import ImageCms

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(
            im, source, ImageCms.createProfile("sRGB"), outputMode=im.mode
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return im
    return converted if isinstance(converted, Image.Image) else im


def compress_image(data: bytes, policy: ImagePolicy = ImagePolicy()) -> CompressedImage:
    """Fit `data` in the policy's box as WebP, or keep the original when that is better.

    Raises UnsupportedMedia when `data` is not an image or does not decode completely, and
    TooLarge when it has more pixels than `policy.max_pixels` (or Pillow's own
    decompression-bomb limit) or would need more than `policy.max_decode_bytes` to decode.
    """
    original = expect_kind(data[:SNIFF_BYTES], "image")
    size: tuple[int, int] | None = None

    def keep(note: str) -> CompressedImage:
        return CompressedImage(
            data=data,
            content_type=original.content_type,
            ext=original.ext,
            width=size[0] if size else None,
            height=size[1] if size else None,
            input_bytes=len(data),
            output_bytes=len(data),
            compressed=False,
            note=note,
        )

    pillow_format = _PILLOW_FORMAT.get(original.ext, "")
    Image.init()  # registers the plugins once; later calls return at once
    if pillow_format not in Image.OPEN:
        raise UnsupportedMedia(
            f"{original.ext} images cannot be checked here (no decoder installed): "
            "refused rather than stored unchecked"
        )

    notes: list[str] = []
    try:
        with Image.open(io.BytesIO(data), formats=[pillow_format]) as im:
            # Only the header has been read so far: check the caps before decoding pixels.
            width, height = im.size
            pixels = width * height
            if pixels > policy.max_pixels:
                raise TooLarge(
                    f"image is {width}x{height} = {pixels} pixels, "
                    f"over the cap of {policy.max_pixels}"
                )
            size = im.size
            orientation = _orientation(im)  # may decode a PNG whose EXIF follows its pixels
            size = _upright_size(im.size, orientation)
            target = _upright_size(
                _fit(*size, policy.max_width, policy.max_height), orientation
            )  # in stored (pre-rotation) orientation

            box: tuple[float, float, float, float] | None = None
            if target != im.size:
                # JPEG (and MPO) only: let libjpeg decode at 1/2, 1/4 or 1/8 scale while
                # keeping at least 1.5x the target size. Other formats return None.
                drafted = im.draft(
                    im.mode,
                    (math.ceil(target[0] * _DRAFT_FACTOR), math.ceil(target[1] * _DRAFT_FACTOR)),
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
            icc = im.info.get("icc_profile") if im.mode in ("RGB", "RGBA") else None
            work = _resizable(im)
            if target != work.size or box is not None:
                work = _resize(work, target, box, policy)
            if icc and len(icc) > policy.max_icc_bytes:
                work = _to_srgb(work, icc)
                notes.append(f"ICC profile of {len(icc)} bytes applied (sRGB) and dropped")
                icc = None
            if orientation != 1:
                work = work.transpose(_TRANSPOSE[orientation])
            work = _webp_ready(work)

            out = io.BytesIO()
            try:
                work.save(
                    out,
                    "WEBP",
                    quality=policy.quality,
                    method=policy.method,
                    icc_profile=icc or None,
                )
            except _DECODE_ERRORS as exc:
                _decode_every_frame(im, policy)
                return keep(f"webp encoding failed: {type(exc).__name__}: {exc}")
            encoded = out.getvalue()
            if len(encoded) >= len(data):
                _decode_every_frame(im, policy)
                return keep(f"webp larger than original ({len(encoded)} >= {len(data)} bytes)")
    except _BOMBS as exc:
        raise TooLarge(f"image refused as a decompression bomb: {exc}") from exc
    except _DECODE_ERRORS as exc:
        raise UnsupportedMedia(
            f"{original.ext} image does not decode ({type(exc).__name__}: {exc})"
        ) from None
    return CompressedImage(
        data=encoded,
        content_type=_WEBP[0],
        ext=_WEBP[1],
        width=work.width,
        height=work.height,
        input_bytes=len(data),
        output_bytes=len(encoded),
        compressed=True,
        note="; ".join(notes),
    )


@dataclass(frozen=True)
class Rendition:
    """One rung in one format: the bytes to store and what they are.

    `kept_original` is True when `data` is the source itself (it fitted the box and the
    format would not be smaller, or encoding failed); `note` says why."""

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


def render_ladder(
    data: bytes, specs: Sequence[RungSpec], policy: ImagePolicy = ImagePolicy()
) -> Rendering:
    """Every spec's rendition of `data` (largest first), and a placeholder.

    Raises what compress_image raises: UnsupportedMedia, TooLarge.
    """
    out = []
    width = height = 0
    for spec in specs:
        one = compress_image(
            data,
            replace(
                policy,
                max_width=spec.rung.max_width,
                max_height=spec.rung.max_height,
                quality=spec.quality,
            ),
        )
        assert one.width is not None and one.height is not None
        out.append(
            Rendition(
                spec=spec,
                data=one.data,
                content_type=one.content_type,
                ext=one.ext,
                width=one.width,
                height=one.height,
                kept_original=not one.compressed,
                note=one.note,
            )
        )
        width, height = max(width, one.width), max(height, one.height)
    return Rendering(tuple(out), width, height, len(data), None)

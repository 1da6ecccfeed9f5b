"""compress_image: orientation, fitting, fallbacks, bombs and modes, on real Pillow images."""

from __future__ import annotations

import functools
import io
import math
import random
import struct
import warnings
import zlib
from collections.abc import Callable
from typing import cast

import pytest
from PIL import Image, ImageChops, ImageOps, ImageStat

from reelflow.core import imaging
from reelflow.core.errors import TooLarge, UnsupportedMedia
from reelflow.core.imaging import CompressedImage, ImagePolicy, compress_image, resampler_in_use
from reelflow.core.media import sniff
from reelflow.devtools import media as samples

ORIENTATION = 0x0112


def encode(im: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **params)
    return out.getvalue()


def decode(result: CompressedImage) -> Image.Image:
    im = Image.open(io.BytesIO(result.data))
    im.load()
    return im


def photo(width: int, height: int, seed: int = 0) -> Image.Image:
    return Image.open(io.BytesIO(samples.photo_jpeg(width, height, seed=seed))).convert("RGB")


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height but holds no pixels: a decompression bomb's header."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + png_chunk(b"IEND", b"")
    )


def assert_close(pixel: object, colour: tuple[int, ...], tolerance: int = 40) -> None:
    assert isinstance(pixel, tuple)
    assert all(abs(a - b) < tolerance for a, b in zip(pixel, colour, strict=False)), (pixel, colour)


def quadrant_centres(width: int, height: int) -> list[tuple[int, int]]:
    return [
        (width // 4, height // 4),
        (3 * width // 4, height // 4),
        (3 * width // 4, 3 * height // 4),
        (width // 4, 3 * height // 4),
    ]


def psnr(a: Image.Image, b: Image.Image) -> float:
    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB"))
    mse = sum(v * v for v in ImageStat.Stat(diff).rms) / 3
    return 10 * math.log10(255 * 255 / mse) if mse else math.inf


# --- orientation --------------------------------------------------------------------------


def test_orientation_6_turns_a_200x100_jpeg_into_an_upright_100x200_webp() -> None:
    upright = samples.quadrant_marker(100, 200)
    stored = upright.rotate(90, expand=True)  # anticlockwise; the tag says "turn it clockwise"
    assert stored.size == (200, 100)
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    data = encode(stored, "JPEG", quality=95, exif=exif.tobytes())

    result = compress_image(data)

    assert result.compressed and result.ext == "webp"
    assert (result.width, result.height) == (100, 200)
    out = decode(result)
    assert out.size == (100, 200)
    for centre, colour in zip(quadrant_centres(100, 200), samples.MARKER_COLOURS, strict=True):
        assert_close(out.convert("RGB").getpixel(centre), colour)
    assert ORIENTATION not in out.getexif()


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("policy", [ImagePolicy(), ImagePolicy(max_width=60, max_height=60)])
def test_every_orientation_comes_out_upright(orientation: int, policy: ImagePolicy) -> None:
    data = samples.jpeg_with_orientation(orientation, 200, 100)
    with Image.open(io.BytesIO(data)) as im:
        reference = ImageOps.exif_transpose(im)  # Pillow's reading of the tag

    result = compress_image(data, policy)

    out = decode(result).convert("RGB")
    ref_w, ref_h = reference.size
    scale = min(policy.max_width / ref_w, policy.max_height / ref_h, 1.0)
    assert out.size == (round(ref_w * scale), round(ref_h * scale))
    assert (result.width, result.height) == out.size
    for centre, colour in zip(quadrant_centres(*out.size), samples.MARKER_COLOURS, strict=True):
        assert_close(out.getpixel(centre), colour)
    assert ORIENTATION not in out.getexif()


def test_output_carries_no_exif_at_all() -> None:
    exif = Image.Exif()
    exif[ORIENTATION] = 1
    exif[0x010F] = "SecretCam"  # Make
    data = encode(photo(800, 600), "JPEG", quality=90, exif=exif.tobytes())
    result = compress_image(data)
    assert result.compressed
    assert len(decode(result).getexif()) == 0
    assert b"SecretCam" not in result.data


# --- fitting ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "box", "expected"),
    [
        ((1920, 1080), (1280, 720), (1280, 720)),  # the usual case
        ((640, 360), (1280, 720), (640, 360)),  # never upscaled
        ((1280, 720), (1280, 720), (1280, 720)),  # exactly the box
        ((1080, 1920), (1280, 720), (405, 720)),  # tall: height binds
        ((3000, 1000), (1280, 720), (1280, 427)),  # wide: width binds
        ((2000, 2000), (1280, 720), (720, 720)),  # square
        ((1281, 720), (1280, 720), (1280, 719)),  # one pixel too wide
        ((1000, 800), (1280, 720), (900, 720)),  # smaller width, taller ratio
        ((4000, 3000), (1280, 720), (960, 720)),  # JPEG draft (DCT scaling) path
        ((3840, 2160), (1280, 720), (1280, 720)),  # 4K: drafted to 1920x1080 first
        ((800, 600), (300, 300), (300, 225)),
    ],
)
def test_fits_within_both_bounds_keeping_aspect_without_upscaling(
    size: tuple[int, int], box: tuple[int, int], expected: tuple[int, int]
) -> None:
    data = samples.photo_jpeg(*size, seed=sum(size))
    result = compress_image(data, ImagePolicy(max_width=box[0], max_height=box[1]))

    assert result.compressed, result.note
    assert (result.width, result.height) == expected
    out = decode(result)
    assert out.size == expected and out.format == "WEBP"
    assert out.width <= box[0] and out.height <= box[1]
    assert out.width <= size[0] and out.height <= size[1]
    # Aspect ratio kept to within the rounding of one pixel.
    assert abs(out.width / out.height - size[0] / size[1]) <= size[0] / size[1] / out.height


@pytest.mark.parametrize(
    ("size", "expected"), [((4000, 3000), (960, 720)), ((3840, 2160), (1280, 720))]
)
def test_downscale_through_jpeg_draft_keeps_quality(
    size: tuple[int, int], expected: tuple[int, int]
) -> None:
    source = photo(*size, seed=7)
    data = encode(source, "JPEG", quality=95)
    reference = source.resize(expected, Image.Resampling.LANCZOS)  # full decode, fair filter
    fair = Image.open(io.BytesIO(encode(reference, "WEBP", quality=95)))

    result = compress_image(data, ImagePolicy(quality=95))

    assert result.compressed
    assert decode(result).size == expected
    # As close to the fair downscale as a full decode would be: only WebP's own loss remains.
    assert psnr(decode(result), reference) > psnr(fair, reference) - 0.3


def test_result_is_webp_and_smaller() -> None:
    data = samples.photo_jpeg()
    result = compress_image(data)
    kind = sniff(result.data[:64])
    assert kind is not None and kind.ext == "webp"
    assert (result.content_type, result.ext, result.compressed, result.note) == (
        "image/webp",
        "webp",
        True,
        "",
    )
    assert result.input_bytes == len(data)
    assert result.output_bytes == len(result.data) < len(data) * 0.5


def test_quality_setting_is_used() -> None:
    data = samples.photo_jpeg(1280, 720)
    low = compress_image(data, ImagePolicy(quality=40))
    high = compress_image(data, ImagePolicy(quality=90))
    assert low.output_bytes < high.output_bytes * 0.8


# --- keeping the original -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "ext", "content_type"),
    [
        (encode(Image.new("P", (1, 1)), "GIF"), "gif", "image/gif"),  # 37 bytes, already minimal
        (encode(photo(1280, 720), "WEBP", quality=40), "webp", "image/webp"),  # q85 is bigger
        (encode(photo(640, 360), "AVIF", quality=50), "avif", "image/avif"),  # AVIF beats WebP
    ],
    ids=["tiny-gif", "small-webp", "avif"],
)
def test_keeps_the_original_when_webp_is_not_smaller(
    data: bytes, ext: str, content_type: str
) -> None:
    result = compress_image(data)

    assert result.compressed is False
    assert result.data == data
    assert (result.ext, result.content_type) == (ext, content_type)
    assert result.note.startswith("webp larger than original")
    assert result.input_bytes == result.output_bytes == len(data)
    assert result.percent_saved == 0.0
    with Image.open(io.BytesIO(data)) as im:
        assert (result.width, result.height) == im.size


def _truncated(fmt: str, **params: object) -> bytes:
    whole = encode(photo(640, 360).convert("RGB"), fmt, **params)
    return whole[: len(whole) * 2 // 3]


def _checkered_animation() -> bytes:
    """Three 256x256 checkerboard frames: tiny as GIF, far bigger as WebP (so it is kept)."""
    board = Image.new("1", (256, 256))
    board.putdata([(x + y) % 2 for y in range(256) for x in range(256)])
    first = board.convert("P")
    flipped = first.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return encode(first, "GIF", save_all=True, append_images=[flipped, first])


@pytest.mark.parametrize(
    ("data", "ext"),
    [
        (_truncated("JPEG", quality=90), "jpg"),
        (_truncated("PNG"), "png"),
        (_truncated("GIF"), "gif"),
        (_truncated("WEBP", quality=90), "webp"),
        (samples.photo_jpeg(64, 36)[:20] + b"<html><body>sign in</body></html>" * 8, "jpg"),
        (b"\xff\xd8\xff\xe0" + b"\x00garbage" * 20, "jpg"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + b"\xff" * 30, "png"),
        (b"GIF89a" + b"\x00" * 5, "gif"),
    ],
    ids=["jpeg-cut", "png-cut", "gif-cut", "webp-cut", "jpeg-then-html", "jpeg", "png", "gif"],
)
def test_an_image_that_does_not_decode_is_refused_never_kept(data: bytes, ext: str) -> None:
    with pytest.raises(UnsupportedMedia, match=f"^{ext} image does not decode"):
        compress_image(data)


def test_an_animation_kept_as_it_is_must_decode_in_every_frame() -> None:
    whole = _checkered_animation()
    kept = compress_image(whole)
    assert (kept.compressed, kept.data) == (False, whole)
    assert kept.note.startswith("webp larger than original")
    with pytest.raises(UnsupportedMedia, match="does not decode"):
        compress_image(whole[: len(whole) - 200])  # the last frame cut short
    with pytest.raises(TooLarge, match="animation of 3 frames"):
        compress_image(whole, ImagePolicy(max_pixels=2 * 256 * 256))


def test_heic_without_a_decoder_is_refused_not_stored_unchecked() -> None:
    data = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + b"\0" * 100
    with pytest.raises(UnsupportedMedia, match="no decoder installed"):
        compress_image(data)


# --- ICC profiles and decode memory -------------------------------------------------------


def _vips_profile(name: str) -> bytes:
    """One of libvips' built-in ICC profiles ('p3', 'cmyk'), as bytes."""
    import pyvips

    black = pyvips.Image.black(4, 4, bands=3).copy(interpretation="srgb")
    return bytes(black.icc_transform(name).get("icc-profile-data"))


def test_every_icc_profile_is_applied_and_none_is_carried() -> None:
    """Colours come out as sRGB, with no profile: a browser that ignores profiles, or a
    CDN that strips them, shows the same picture."""
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    picture = photo(640, 360)
    tagged = compress_image(encode(picture, "PNG", icc_profile=srgb))
    assert "icc_profile" not in decode(tagged).info
    assert psnr(decode(tagged), picture) > 30, "sRGB to sRGB changes nothing"

    # Display P3: the same numbers mean more saturated colours; sRGB needs other numbers.
    p3 = _vips_profile("p3")
    red = Image.new("RGB", (64, 64), (255, 0, 0))
    result = compress_image(encode(red, "PNG", icc_profile=p3))
    assert "icc_profile" not in decode(result).info and "ICC profile of" in result.note
    r, g, b = decode(result).convert("RGB").getpixel((32, 32))
    assert r >= 250 and g <= 40 and b <= 40, "P3 red is clipped to sRGB's red"
    mid = Image.new("RGB", (64, 64), (200, 120, 40))
    expected = ImageCms.profileToProfile(
        mid, ImageCms.ImageCmsProfile(io.BytesIO(p3)), ImageCms.createProfile("sRGB")
    ).getpixel((0, 0))
    found = decode(compress_image(encode(mid, "PNG", icc_profile=p3))).getpixel((32, 32))
    assert max(abs(a - b) for a, b in zip(found, expected, strict=True)) <= 3
    assert max(abs(a - b) for a, b in zip(found, (200, 120, 40), strict=True)) > 8

    # An sRGB profile grown to 8 MB by a blob lcms skips (JPEG carries it in APP2 markers).
    big_profile = struct.pack(">I", len(srgb) + 8 * 2**20) + srgb[4:]
    big_profile += random.Random(0).randbytes(8 * 2**20)
    data = encode(picture, "JPEG", quality=90, icc_profile=big_profile)
    assert len(data) > 8 * 2**20
    big = compress_image(data)
    assert big.compressed and big.output_bytes < 200_000
    assert "icc_profile" not in decode(big).info
    assert psnr(decode(big), picture) > 30


def test_cmyk_is_converted_to_srgb_with_and_without_a_profile() -> None:
    cmyk = Image.new("CMYK", (64, 64), (0, 255, 255, 0))  # red ink
    plain = decode(compress_image(encode(cmyk, "JPEG", quality=95)))
    with_profile = decode(
        compress_image(encode(cmyk, "JPEG", quality=95, icc_profile=_vips_profile("cmyk")))
    )
    for image in (plain, with_profile):
        assert image.mode == "RGB"
        r, g, b = image.getpixel((32, 32))
        assert r > 150 and g < 90 and b < 90, (r, g, b)


@pytest.mark.parametrize(
    ("fmt", "mode", "size"),
    [("PNG", "RGBA", (6000, 4000)), ("WEBP", "RGB", (4000, 3000))],
)
def test_an_image_over_the_decode_budget_is_refused_before_decoding(
    fmt: str, mode: str, size: tuple[int, int]
) -> None:
    data = encode(Image.new(mode, size), fmt)
    policy = ImagePolicy(max_decode_bytes=128 * 2**20)
    needed = imaging.decode_estimate(fmt, mode, size, policy)
    assert needed > policy.max_decode_bytes  # 24 MP RGBA, 12 MP WebP
    with pytest.raises(TooLarge, match="MB to decode, over the limit of 128 MB"):
        compress_image(data, policy)
    assert compress_image(data, ImagePolicy(max_decode_bytes=needed)).width is not None


@pytest.mark.parametrize(
    ("fmt", "mode", "pixels", "vips", "per_pixel"),
    [
        ("PNG", "RGB", 20_000_000, False, 6.5),  # over VIPS_MAX_PIXELS: Pillow resamples
        ("PNG", "RGB", 2_000_000, True, 6.5 + 3 * 1.5),  # libvips gets a copy of 3 bands
        ("PNG", "RGB", 2_000_000, False, 6.5),  # resampler "pillow"
        ("PNG", "L", 2_000_000, True, 3.0 + 1.5),
        ("WEBP", "RGB", 2_000_000, False, 20.0),  # the format's row is larger than the mode's
        ("AVIF", "L", 2_000_000, False, 10.5),
        ("TIFF", "YCbCr;weird", 1_000_000, False, 20.0),  # unknown: the most of any
    ],
)
def test_decode_estimate_table(
    fmt: str, mode: str, pixels: int, vips: bool, per_pixel: float
) -> None:
    policy = ImagePolicy(resampler="auto" if vips else "pillow")
    width = 1000
    estimate = imaging.decode_estimate(fmt, mode, (width, pixels // width), policy)
    if vips and imaging._pyvips() is None:
        per_pixel -= 3 * 1.5 if mode == "RGB" else 1.5
    assert estimate == math.ceil(pixels * per_pixel)


# --- refusals -----------------------------------------------------------------------------


def test_refuses_more_pixels_than_the_policy_allows() -> None:
    data = samples.photo_jpeg(640, 360)
    with pytest.raises(TooLarge, match=r"image is 640x360 = 230400 pixels, over the cap of 100000"):
        compress_image(data, ImagePolicy(max_pixels=100_000))
    assert compress_image(data, ImagePolicy(max_pixels=230_400)).compressed  # at the cap is fine


@pytest.mark.parametrize(
    ("width", "height", "policy", "message"),
    [
        # Over our cap, under Pillow's: our own check on the header.
        (8000, 6000, ImagePolicy(), "image is 8000x6000 = 48000000 pixels, over the cap"),
        # Far over Pillow's hard limit: its DecompressionBombError becomes TooLarge.
        (100_000, 100_000, ImagePolicy(), "pixels"),
        (100_000, 100_000, ImagePolicy(max_pixels=10**12), "decompression bomb"),
    ],
)
def test_refuses_a_bomb_from_its_header_alone(
    width: int, height: int, policy: ImagePolicy, message: str
) -> None:
    data = png_header_only(width, height)
    assert len(data) < 200
    with pytest.raises(TooLarge, match=message):
        compress_image(data, policy)


def test_pillow_bomb_warning_as_error_becomes_too_large() -> None:
    data = png_header_only(10_000, 10_000)  # 100 M pixels: over Pillow's warning threshold
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with pytest.raises(TooLarge, match="decompression bomb"):
            compress_image(data, ImagePolicy(max_pixels=150_000_000))


def test_bomb_check_does_not_touch_pillow_globals() -> None:
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(TooLarge):
        compress_image(png_header_only(100_000, 100_000))
    compress_image(samples.photo_jpeg(320, 180), ImagePolicy(max_pixels=10**9))
    assert before == Image.MAX_IMAGE_PIXELS


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"<!DOCTYPE html><html><body>Link expired</body></html>", "HTML"),
        (b"AccessDenied: the signature has expired", "plain text"),
        (b"", "empty"),
        (samples.preview_webm(seconds=0.5, width=64, height=64), "video/webm"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "SVG"),
    ],
    ids=["html", "text", "empty", "webm", "svg"],
)
def test_refuses_content_that_is_not_an_image(data: bytes, words: str) -> None:
    with pytest.raises(UnsupportedMedia, match=words):
        compress_image(data)


# --- modes --------------------------------------------------------------------------------


def _rgba_photo() -> Image.Image:
    im = photo(640, 360, seed=11).convert("RGBA")
    alpha = Image.new("L", im.size, 255)
    alpha.paste(0, (0, 0, 320, 360))  # left half fully transparent
    im.putalpha(alpha)
    return im


def _transparent_palette_png() -> bytes:
    im = photo(640, 360).quantize(255)  # leaves palette index 255 free
    im.putpalette(cast(list[int], im.getpalette()) + [0, 0, 0])
    im.paste(255, (0, 0, 320, 360))
    return encode(im, "PNG", transparency=255)  # left half clear


@pytest.mark.parametrize(
    ("source", "alpha_kept"),
    [
        (lambda: encode(_rgba_photo(), "PNG"), True),
        (lambda: encode(_rgba_photo().convert("LA"), "PNG"), True),
        (lambda: _transparent_palette_png(), True),
        (lambda: encode(photo(640, 360).convert("L"), "PNG"), False),
        (lambda: encode(photo(640, 360), "BMP"), False),
        (lambda: encode(photo(640, 360).convert("CMYK"), "JPEG", quality=95), False),
        (lambda: encode(photo(640, 360).convert("CMYK"), "TIFF"), False),
    ],
    ids=["png-rgba", "png-la", "png-p-transparent", "png-l", "bmp", "jpeg-cmyk", "tiff-cmyk"],
)
def test_modes_are_converted_sensibly(source: Callable[[], bytes], alpha_kept: bool) -> None:
    data = source()
    result = compress_image(data, ImagePolicy(max_width=320, max_height=320))

    assert result.compressed, result.note
    out = decode(result)
    assert out.size == (320, 180)
    assert (out.mode == "RGBA") is alpha_kept
    if alpha_kept:
        low, high = cast(tuple[int, int], out.getchannel("A").getextrema())
        assert (low, high) == (0, 255)
        assert out.getpixel((0, 0))[3] == 0  # type: ignore[index]


def test_cmyk_colours_survive() -> None:
    rgb = photo(640, 360, seed=3)
    data = encode(rgb.convert("CMYK"), "JPEG", quality=95)
    out = decode(compress_image(data)).convert("RGB")
    assert psnr(out, rgb) > 25


def test_sixteen_bit_grey_is_scaled_not_clipped() -> None:
    grey = photo(640, 360).convert("L")
    wide = grey.convert("I").point(lambda v: v * 256).convert("I;16")
    data = encode(wide, "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")

    result = compress_image(data)

    assert result.compressed
    out = decode(result).convert("L")
    assert abs(ImageStat.Stat(out).mean[0] - ImageStat.Stat(grey).mean[0]) < 3
    assert psnr(out, grey) > 30


def test_animated_gif_uses_the_first_frame() -> None:
    base = photo(320, 180)
    red = ImageChops.multiply(base, Image.new("RGB", base.size, (255, 60, 60))).quantize(64)
    blue = ImageChops.multiply(base, Image.new("RGB", base.size, (60, 60, 255))).quantize(64)
    data = encode(red, "GIF", save_all=True, append_images=[blue], duration=100, loop=0)
    with Image.open(io.BytesIO(data)) as im:
        assert getattr(im, "n_frames", 1) == 2

    result = compress_image(data)

    assert result.compressed
    out = decode(result)
    assert getattr(out, "n_frames", 1) == 1
    r, _, b = ImageStat.Stat(out.convert("RGB")).mean
    assert r > b * 2


# --- reporting ----------------------------------------------------------------------------


def test_describe_matches_the_seed_log_line() -> None:
    result = CompressedImage(
        data=b"",
        content_type="image/webp",
        ext="webp",
        width=1280,
        height=720,
        input_bytes=498_995,
        output_bytes=126_464,
        compressed=True,
        note="",
    )
    assert result.describe() == "487.3KB -> 123.5KB (74.7% smaller)"
    assert result.percent_saved == pytest.approx(74.656, abs=0.001)


def test_describe_says_why_the_original_was_kept() -> None:
    result = compress_image(encode(Image.new("P", (1, 1)), "GIF"))
    assert result.describe().startswith("0.0KB kept as original gif (webp larger than original")


@pytest.mark.parametrize(
    "fields",
    [
        {"quality": 101},
        {"quality": -1},
        {"max_width": 0},
        {"max_height": 0},
        {"max_pixels": 0},
        {"method": 7},
        {"resampler": "magick"},
    ],
)
def test_policy_refuses_nonsense(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ImagePolicy(**fields)  # type: ignore[arg-type]


# --- resampler ----------------------------------------------------------------------------


def needs_libvips(fn):  # pyvips + pyvips-binary are dependencies: its absence is a failure
    def check(*args, **kwargs):
        assert imaging._pyvips() is not None, "pyvips is missing: run `make install`"
        return fn(*args, **kwargs)

    return functools.wraps(fn)(check)


def test_resampler_pillow_never_uses_libvips() -> None:
    assert resampler_in_use(ImagePolicy(resampler="pillow")) == "pillow"
    expected = "pillow" if imaging._pyvips() is None else "libvips "
    assert resampler_in_use().startswith(expected)


@needs_libvips
@pytest.mark.parametrize(
    ("size", "mode", "fmt"),
    [
        ((1920, 1080), "RGB", "JPEG"),  # the common case: 1.5x, no draft
        ((1921, 1081), "RGB", "JPEG"),  # odd sizes: libvips' output is cropped to the target
        ((3840, 2160), "RGB", "JPEG"),  # JPEG draft at 1/2, then 1.5x
        ((4001, 3001), "L", "JPEG"),  # odd size drafted: box < decoded size, Pillow resizes
        ((2000, 640), "RGB", "PNG"),  # no draft
        ((640, 360), "CMYK", "JPEG"),  # converted to RGB first, then libvips
    ],
)
def test_libvips_resampler_gives_pillows_picture(
    size: tuple[int, int], mode: str, fmt: str
) -> None:
    source = photo(*size, seed=5).convert(mode)
    data = encode(source, fmt, quality=95)
    box = 320 if mode == "CMYK" else 1280
    policy = ImagePolicy(max_width=box, max_height=min(box, 720), quality=95)

    by_pillow = compress_image(data, ImagePolicy(**{**vars(policy), "resampler": "pillow"}))
    by_libvips = compress_image(data, policy)

    assert by_pillow.compressed and by_libvips.compressed
    assert (by_libvips.width, by_libvips.height) == (by_pillow.width, by_pillow.height)
    assert decode(by_libvips).size == decode(by_pillow).size
    reference = source.convert("RGB").resize(decode(by_pillow).size, Image.Resampling.LANCZOS)
    assert psnr(decode(by_libvips), reference) > psnr(decode(by_pillow), reference) - 0.3
    assert abs(by_libvips.output_bytes / by_pillow.output_bytes - 1) < 0.03


@needs_libvips
@pytest.mark.parametrize("mode", ["RGB", "L"])
@pytest.mark.parametrize(
    ("size", "target"), [((1920, 1080), (1280, 720)), ((1921, 1081), (1279, 720))]
)
def test_libvips_resize_is_pillows_lanczos_to_rounding(
    size: tuple[int, int], target: tuple[int, int], mode: str
) -> None:
    source = photo(*size, seed=6).convert(mode)
    by_pillow = source.resize(target, Image.Resampling.LANCZOS)
    by_libvips = imaging._resize_vips(source, target, None)
    assert by_libvips is not None and by_libvips.mode == mode
    assert psnr(by_libvips, by_pillow) > 50  # measured 55-56 dB: rounding, not geometry


@needs_libvips
def test_libvips_resampler_keeps_orientation_and_alpha_rules() -> None:
    for orientation in (3, 6, 8):
        data = samples.jpeg_with_orientation(orientation, 400, 200)
        out = decode(compress_image(data, ImagePolicy(max_width=100, max_height=100)))
        for centre, colour in zip(quadrant_centres(*out.size), samples.MARKER_COLOURS, strict=True):
            assert_close(out.convert("RGB").getpixel(centre), colour)
    rgba = compress_image(encode(_rgba_photo(), "PNG"), ImagePolicy(max_width=320))
    assert decode(rgba).mode == "RGBA"  # alpha images stay with Pillow's premultiplied resize

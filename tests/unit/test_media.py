"""Content sniffing (reelflow.core.media) and the sample media generators
(reelflow.devtools.media)."""

from __future__ import annotations

import io
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Literal, cast

import imageio_ffmpeg
import pytest
from PIL import Image, ImageOps

from reelflow.core.errors import UnsupportedMedia
from reelflow.core.media import MediaType, expect_kind, sniff
from reelflow.devtools import media as samples


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\0\0\0\0" + b"".join(compatible)
    return struct.pack(">I", 8 + len(body)) + b"ftyp" + body + b"\0\0\0\x08free"


def ebml(doctype: bytes) -> bytes:
    header = b"\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\xf3\x81\x08"
    header += b"\x42\x82" + bytes([0x80 | len(doctype)]) + doctype + b"\x42\x87\x81\x02"
    return b"\x1a\x45\xdf\xa3" + bytes([0x80 | len(header)]) + header + b"\x18\x53\x80\x67"


def bmp_head() -> bytes:
    return b"BM" + struct.pack("<I", 1000) + b"\0\0\0\0" + struct.pack("<II", 54, 40) + b"\0" * 40


JPEG = MediaType("image", "image/jpeg", "jpg")
PNG = MediaType("image", "image/png", "png")
GIF = MediaType("image", "image/gif", "gif")
WEBP = MediaType("image", "image/webp", "webp")
AVIF = MediaType("image", "image/avif", "avif")
HEIC = MediaType("image", "image/heic", "heic")
HEIF = MediaType("image", "image/heif", "heif")
BMP = MediaType("image", "image/bmp", "bmp")
TIFF = MediaType("image", "image/tiff", "tiff")
JXL = MediaType("image", "image/jxl", "jxl")
WEBM = MediaType("video", "video/webm", "webm")
MKV = MediaType("video", "video/x-matroska", "mkv")
MP4 = MediaType("video", "video/mp4", "mp4")
MOV = MediaType("video", "video/quicktime", "mov")


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\xff\xd8\xff\xe0\0\x10JFIF\0", JPEG),
        (b"\xff\xd8\xff\xe1\x12\x34Exif\0\0", JPEG),
        (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", PNG),
        (b"GIF87a\x01\0\x01\0", GIF),
        (b"GIF89a\x01\0\x01\0", GIF),
        (b"RIFF\x24\0\0\0WEBPVP8 ", WEBP),
        (ftyp(b"avif", b"mif1", b"miaf"), AVIF),
        (ftyp(b"mif1", b"avif", b"miaf"), AVIF),
        (ftyp(b"avis", b"msf1"), AVIF),
        (ftyp(b"heic", b"mif1", b"heic"), HEIC),
        (ftyp(b"mif1", b"heic"), HEIC),
        (ftyp(b"mif1", b"miaf"), HEIF),
        (bmp_head(), BMP),
        (b"II*\0\x08\0\0\0", TIFF),
        (b"MM\0*\0\0\0\x08", TIFF),
        (b"\xff\x0a\xfa\x7f", JXL),
        (ebml(b"webm"), WEBM),
        (ebml(b"matroska"), MKV),
        (ftyp(b"isom", b"isom", b"iso2", b"avc1", b"mp41"), MP4),
        (ftyp(b"mp42", b"mp42", b"isom"), MP4),
        (ftyp(b"mp41"), MP4),
        (ftyp(b"avc1"), MP4),
        (ftyp(b"M4V ", b"M4V ", b"mp42"), MP4),
        (ftyp(b"qt  ", b"qt  "), MOV),
    ],
)
def test_sniff_recognises_magic_bytes(head: bytes, expected: MediaType) -> None:
    assert sniff(head) == expected


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"<!DOCTYPE html><html><head><title>Access denied</title>",
        b"  \n<html lang=en>",
        b'{"error": "expired"}',
        b"BMW is a car, not a bitmap, even though it starts with BM",
        b"RIFF\x24\0\0\0WAVEfmt ",
        ftyp(b"M4A ", b"M4A ", b"mp42", b"isom"),  # audio
        ftyp(b"zzzz", b"yyyy"),
        b"\xff\xd8",  # too short to be a JPEG
        b"%PDF-1.7",
    ],
)
def test_sniff_returns_none_for_other_content(head: bytes) -> None:
    assert sniff(head) is None


def _encode(fmt: str, mode: str = "RGB", **params: object) -> bytes:
    out = io.BytesIO()
    Image.new(mode, (16, 8), "orange" if mode == "RGB" else 1).save(out, fmt, **params)
    return out.getvalue()


@pytest.mark.parametrize(
    ("fmt", "mode", "expected"),
    [
        ("JPEG", "RGB", JPEG),
        ("PNG", "RGB", PNG),
        ("GIF", "P", GIF),
        ("WEBP", "RGB", WEBP),
        ("AVIF", "RGB", AVIF),
        ("BMP", "RGB", BMP),
        ("TIFF", "RGB", TIFF),
    ],
)
def test_sniff_recognises_what_pillow_writes(fmt: str, mode: str, expected: MediaType) -> None:
    assert sniff(_encode(fmt, mode)[:64]) == expected


def test_sniff_needs_only_the_first_64_bytes() -> None:
    data = samples.photo_jpeg(64, 64)
    assert sniff(data[:64]) == sniff(data) == JPEG
    assert sniff(samples.preview_webm(seconds=0.5, width=64, height=64)[:64]) == WEBM


@pytest.mark.parametrize(
    ("head", "kind", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "image", PNG),
        (ebml(b"webm"), "video", WEBM),
        (ftyp(b"qt  "), "video", MOV),
    ],
)
def test_expect_kind_accepts_matching_content(
    head: bytes, kind: Literal["image", "video"], expected: MediaType
) -> None:
    assert expect_kind(head, kind) == expected


@pytest.mark.parametrize(
    ("head", "kind", "words"),
    [
        (b"<!doctype html><html>", "image", ["expected an image", "HTML"]),
        (b"<!doctype html><html>", "video", ["expected a video", "HTML"]),
        (b"", "image", ["empty"]),
        (b"Not found\n", "image", ["plain text"]),
        (b"%PDF-1.4\n", "image", ["PDF"]),
        (b"<svg xmlns='http://www.w3.org/2000/svg'>", "image", ["SVG"]),
        (ebml(b"webm"), "image", ["expected an image", "video/webm"]),
        (b"\xff\xd8\xff\xe0\0\x10JFIF\0", "video", ["expected a video", "image/jpeg"]),
        (b"\x00\x01\x02\x03\x04\x05\x06\x07\x08", "image", ["00 01 02 03"]),
    ],
)
def test_expect_kind_refuses_other_content_with_a_clear_message(
    head: bytes, kind: Literal["image", "video"], words: list[str]
) -> None:
    with pytest.raises(UnsupportedMedia) as caught:
        expect_kind(head, kind)
    for word in words:
        assert word in str(caught.value)


# --- sample generators -------------------------------------------------------------------


def test_photo_jpeg_is_a_realistic_full_hd_jpeg() -> None:
    sizes = []
    for seed in range(3):
        data = samples.photo_jpeg(seed=seed)
        assert sniff(data[:64]) == JPEG
        with Image.open(io.BytesIO(data)) as im:
            assert im.size == (1920, 1080)
            # Not flat colour: plenty of distinct colours and spread in every channel.
            small = im.convert("RGB").resize((192, 108))
            assert len(set(small.get_flattened_data())) > 5000
            extrema = cast(tuple[tuple[int, int], ...], small.getextrema())
            assert all(high - low > 100 for low, high in extrema)
        sizes.append(len(data))
    assert all(250_000 <= size <= 400_000 for size in sizes), sizes


def test_photo_jpeg_is_seeded() -> None:
    assert samples.photo_jpeg(320, 180, seed=1) == samples.photo_jpeg(320, 180, seed=1)
    assert samples.photo_jpeg(320, 180, seed=1) != samples.photo_jpeg(320, 180, seed=2)


def test_photo_jpeg_honours_size_and_quality() -> None:
    low = samples.photo_jpeg(640, 480, quality=50)
    high = samples.photo_jpeg(640, 480, quality=95)
    assert Image.open(io.BytesIO(low)).size == (640, 480)
    assert len(low) < len(high)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "P"])
@pytest.mark.parametrize("photo", [False, True])
def test_png_image_has_the_mode_and_size_asked_for(mode: str, photo: bool) -> None:
    data = samples.png_image(320, 200, seed=3, mode=mode, photo=photo)
    assert sniff(data[:64]) == PNG
    with Image.open(io.BytesIO(data)) as im:
        assert (im.size, im.mode) == ((320, 200), mode)
        if "A" in mode:
            low, _ = cast(tuple[int, int], im.getchannel("A").getextrema())
            assert low < 50  # some of it really is transparent


@pytest.mark.parametrize("orientation", range(1, 9))
def test_jpeg_with_orientation_shows_the_marker_upright(orientation: int) -> None:
    data = samples.jpeg_with_orientation(orientation, 200, 100)
    with Image.open(io.BytesIO(data)) as im:
        assert im.size == (200, 100)
        assert im.getexif().get(0x0112) == orientation
        upright = ImageOps.exif_transpose(im)  # Pillow's own reading of the tag
    width, height = upright.size
    assert (width, height) == ((100, 200) if orientation >= 5 else (200, 100))
    centres = [
        (width // 4, height // 4),
        (3 * width // 4, height // 4),
        (3 * width // 4, 3 * height // 4),
        (width // 4, 3 * height // 4),
    ]
    for centre, colour in zip(centres, samples.MARKER_COLOURS, strict=True):
        pixel = upright.getpixel(centre)
        assert isinstance(pixel, tuple)
        assert all(abs(a - b) < 40 for a, b in zip(pixel, colour, strict=True)), (centre, pixel)


def _probe(data: bytes, suffix: str) -> tuple[int, float, tuple[int, int]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"clip{suffix}"
        path.write_bytes(data)
        frames, seconds = imageio_ffmpeg.count_frames_and_secs(str(path))
        reader = imageio_ffmpeg.read_frames(str(path))
        meta = next(reader)
        reader.close()
    return frames, seconds, tuple(meta["size"])


@pytest.mark.parametrize(
    ("make", "suffix", "expected"),
    [(samples.preview_webm, ".webm", WEBM), (samples.preview_mp4, ".mp4", MP4)],
)
def test_preview_clips_are_real_playable_videos(
    make: Callable[..., bytes], suffix: str, expected: MediaType
) -> None:
    data = make(seconds=2.0, width=640, height=360, seed=0)
    assert sniff(data[:64]) == expected
    frames, seconds, size = _probe(data, suffix)
    assert size == (640, 360)
    assert frames == 48
    assert seconds == pytest.approx(2.0, abs=0.1)
    assert make(seconds=2.0, width=640, height=360, seed=1) != data


@pytest.mark.parametrize("make", [samples.preview_webm, samples.preview_mp4])
@pytest.mark.parametrize("target", [60_000, 400_000])
def test_preview_clips_come_near_the_target_size(make: Callable[..., bytes], target: int) -> None:
    data = make(seconds=2.0, width=640, height=360, seed=4, target_bytes=target)
    assert 0.6 * target <= len(data) <= 1.4 * target, len(data)


def test_preview_webm_is_cached_per_arguments() -> None:
    first = samples.preview_webm(seconds=1.0, width=160, height=90, seed=9)
    assert samples.preview_webm(seconds=1.0, width=160, height=90, seed=9) is first
    assert samples.preview_webm(seconds=1.0, width=160, height=90, seed=10) is not first

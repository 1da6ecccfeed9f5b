"""What a body is, judged by its first bytes rather than by its URL or its Content-Type, and
whether a video's probe (reelflow.adapters.probe, PyAV) agrees with what the bytes announced.

Pure: no I/O, no settings. `sniff` needs only the first 64 bytes of a body.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from reelflow.core.errors import UnsupportedMedia

__all__ = ["SNIFF_BYTES", "MediaType", "VideoProbe", "expect_kind", "judge_video", "sniff"]

SNIFF_BYTES = 64
"""How many leading bytes `sniff` looks at; pass at least this many when you have them."""

Kind = Literal["image", "video"]


@dataclass(frozen=True)
class MediaType:
    """A recognised media format: its kind, its canonical Content-Type and file extension."""

    kind: Kind
    content_type: str
    ext: str


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

# ISO base media file format brands (the `ftyp` box), grouped by what they announce.
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"})
_HEIF_BRANDS = frozenset({b"mif1", b"msf1", b"mif2"})
_QT_BRANDS = frozenset({b"qt  "})
_AUDIO_BRANDS = frozenset({b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "})
_MP4_BRANDS = frozenset(
    {
        b"isom",
        b"iso2",
        b"iso3",
        b"iso4",
        b"iso5",
        b"iso6",
        b"iso8",
        b"iso9",
        b"mp41",
        b"mp42",
        b"avc1",
        b"M4V ",
        b"M4VH",
        b"M4VP",
        b"f4v ",
        b"dash",
        b"msnv",
        b"XAVC",
        b"MSNV",
        b"mmp4",
        b"3gp4",
        b"3gp5",
        b"3gp6",
    }
)

# The first bytes of common bodies that are not media, to say what arrived instead.
_NOT_MEDIA: tuple[tuple[bytes, str], ...] = (
    (b"<!doctype html", "an HTML page"),
    (b"<html", "an HTML page"),
    (b"<head", "an HTML page"),
    (b"<body", "an HTML page"),
    (b"<?xml", "an XML document"),
    (b"<svg", "an SVG drawing (vector images are not accepted)"),
    (b"%pdf-", "a PDF document"),
    (b"pk\x03\x04", "a ZIP archive"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"{", "JSON or other text"),
    (b"[", "JSON or other text"),
    (b"id3", "MP3 audio"),
    (b"oggs", "an Ogg stream"),
    (b"<", "HTML or XML markup"),
)


def _ftyp(head: bytes) -> MediaType | None:
    """Classify an ISO BMFF file (MP4, MOV, AVIF, HEIC) by the brands of its ftyp box."""
    size = int.from_bytes(head[0:4], "big")
    major = head[8:12]
    end = min(len(head), size) if size >= 16 else len(head)
    brands = [major] + [head[i : i + 4] for i in range(16, end - 3, 4)]
    if major in _AUDIO_BRANDS:
        return None
    # Decide by the major brand when it says enough; otherwise look at the compatible ones.
    for brand in brands:
        if brand in _AVIF_BRANDS:
            return AVIF
        if brand in _HEIC_BRANDS:
            return HEIC
        if brand in _HEIF_BRANDS:
            # A generic HEIF container: an AVIF or HEIC brand further on tells which codec.
            rest = set(brands)
            if rest & _AVIF_BRANDS:
                return AVIF
            if rest & _HEIC_BRANDS:
                return HEIC
            return HEIF
        if brand in _QT_BRANDS:
            return MOV
        if brand in _MP4_BRANDS:
            return MP4
    return None


def _read_vint(data: bytes, pos: int) -> tuple[int, int] | None:
    """An EBML variable-length integer at `pos`: (value, length in bytes), or None."""
    if pos >= len(data):
        return None
    first = data[pos]
    for length in range(1, 9):
        if first & (0x80 >> (length - 1)):
            break
    else:
        return None
    if pos + length > len(data):
        return None
    value = first & (0xFF >> length)
    for byte in data[pos + 1 : pos + length]:
        value = (value << 8) | byte
    return value, length


def _matroska(head: bytes) -> MediaType:
    """WebM or another Matroska file, by the EBML header's DocType element (ID 0x4282)."""
    at = head.find(b"\x42\x82", 4)
    if at != -1:
        vint = _read_vint(head, at + 2)
        if vint is not None:
            size, length = vint
            start = at + 2 + length
            doctype = head[start : start + size]
            return WEBM if doctype == b"webm" else MKV
    # DocType cut off by a short head: fall back to a plain search.
    return WEBM if b"webm" in head else MKV


def _is_bmp(head: bytes) -> bool:
    if not head.startswith(b"BM") or len(head) < 18:
        return False
    reserved = head[6:10]
    dib_header = int.from_bytes(head[14:18], "little")
    return reserved == b"\0\0\0\0" and dib_header in (12, 16, 40, 52, 56, 64, 108, 124)


def sniff(head: bytes) -> MediaType | None:
    """The media format the bytes start with, or None when they are not a known format.

    Looks at magic numbers only; needs the first `SNIFF_BYTES` (64) bytes of the body.
    """
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return WEBP
    if head[4:8] == b"ftyp":
        return _ftyp(head[:SNIFF_BYTES])
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return _matroska(head[:SNIFF_BYTES])
    if head.startswith((b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")):
        return TIFF
    if _is_bmp(head):
        return BMP
    if head.startswith((b"\xff\x0a", b"\0\0\0\x0cJXL \r\n\x87\n")):
        return JXL
    return None


def _describe_unknown(head: bytes) -> str:
    """A short account of unrecognised bytes, for error messages."""
    if not head:
        return "an empty body"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    for prefix, what in _NOT_MEDIA:
        if text.startswith(prefix):
            return what
    if all(32 <= b < 127 or b in (9, 10, 13) for b in head[:SNIFF_BYTES]):
        return "plain text"
    return f"unrecognised bytes starting {head[:8].hex(' ')}"


def expect_kind(head: bytes, kind: Kind) -> MediaType:
    """The media type of `head`, which must be of `kind`; UnsupportedMedia otherwise."""
    found = sniff(head)
    if found is None:
        raise UnsupportedMedia(
            f"expected {'an' if kind == 'image' else 'a'} {kind}, got {_describe_unknown(head)}"
        )
    if found.kind != kind:
        raise UnsupportedMedia(
            f"expected {'an' if kind == 'image' else 'a'} {kind}, "
            f"got {found.kind} content ({found.content_type})"
        )
    return found


@dataclass(frozen=True)
class VideoProbe:
    """What libavformat found in a file (reelflow.adapters.probe.probe_video)."""

    formats: tuple[str, ...]  # the demuxer's names, e.g. ("matroska", "webm")
    codec: str  # the first video stream's codec, e.g. "vp8"
    width: int
    height: int
    seconds: float | None  # None when the container does not say
    decoded_frame: bool  # the first frame of the video stream decoded
    fps: float | None = None  # the stream's average frame rate, when known
    rotation: int = 0  # display rotation in degrees (0, 90, 180, 270), counter-clockwise
    audio: bool = False  # the file holds an audio stream
    start: float = 0.0  # the container's start time (timestamps are offset by it)

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) as shown: a 90 or 270 degree rotation swaps them."""
        if self.rotation % 180 == 90:
            return self.height, self.width
        return self.width, self.height

    def facts(self) -> dict[str, object]:
        """What is recorded in the database (assets.media['source'])."""
        return {
            "container": self.formats[0] if self.formats else "",
            "codec": self.codec,
            "width": self.width,
            "height": self.height,
            "seconds": round(self.seconds, 3) if self.seconds is not None else None,
            "fps": round(self.fps, 3) if self.fps else None,
            "rotation": self.rotation,
            "audio": self.audio,
        }


# The demuxer names libavformat gives each container `sniff` recognises.
_DEMUXERS: dict[str, frozenset[str]] = {
    "webm": frozenset({"webm", "matroska"}),
    "mkv": frozenset({"matroska", "webm"}),
    "mp4": frozenset({"mp4", "mov"}),
    "mov": frozenset({"mov", "mp4"}),
}


def judge_video(announced: MediaType, probe: VideoProbe) -> None:
    """Accept a video only when its probe is a real one of the announced container: a video
    stream with a size, a first frame that decodes. UnsupportedMedia otherwise."""
    expected = _DEMUXERS.get(announced.ext, frozenset())
    if not expected & set(probe.formats):
        raise UnsupportedMedia(
            f"starts like {announced.content_type} but demuxes as {'/'.join(probe.formats)}"
        )
    if probe.width <= 0 or probe.height <= 0:
        raise UnsupportedMedia(f"{announced.ext} video stream ({probe.codec}) has no picture size")
    if not probe.decoded_frame:
        raise UnsupportedMedia(f"{announced.ext} video ({probe.codec}): no frame decodes")
    if probe.seconds is not None and probe.seconds < 0:
        raise UnsupportedMedia(f"{announced.ext} video claims a negative duration")

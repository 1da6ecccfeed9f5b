"""The rendition ladder: which sizes and formats every thumbnail is stored in. Pure.

    parse_ladder("large:1280x720@85,medium:640x360@82,small:320x180@80")

A rung is a named box (the image fits inside it, keeps its aspect ratio, never upscales) and a
quality. Every rung is made in WebP, and also in AVIF when that format is switched on. Each
(rung, format) has a spec digest: a short hash of everything that decides its pixels. A stored
rendition whose digest equals the ladder's is current; one whose digest differs is made again,
and nothing else is.

Keys carry a content version (`content_version`): a hash of the source's sha256 and the spec
digest. A replaced source or a changed rung gets a new key, so no browser or CDN cache can
serve the old bytes under it; the old key is purged (README, "Renditions and caches").
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

__all__ = [
    "DEFAULT_LADDER",
    "FORMATS",
    "LEGACY_LARGE",
    "Ladder",
    "Rung",
    "RungSpec",
    "content_version",
    "parse_ladder",
]

# What decides the pixels besides the rung itself; bump when the encoder path changes output.
_PIPELINE_VERSION = 1
FORMATS = ("webp", "avif")
_RUNG_NAME = re.compile(r"[a-z][a-z0-9]{0,15}")
_RUNG = re.compile(r"\s*([a-z][a-z0-9]{0,15})\s*:\s*(\d{1,5})\s*x\s*(\d{1,5})\s*@\s*(\d{1,3})\s*")
DEFAULT_LADDER = "large:1280x720@85,medium:640x360@82,small:320x180@80"
VERSION_LENGTH = 10


@dataclass(frozen=True)
class Rung:
    """A named box and the WebP quality of the rendition made to fit in it."""

    name: str
    max_width: int
    max_height: int
    quality: int

    def __post_init__(self) -> None:
        if not _RUNG_NAME.fullmatch(self.name):
            raise ValueError(f"rung name {self.name!r}: use 1-16 of a-z and 0-9, starting a-z")
        if not (1 <= self.max_width <= 16384 and 1 <= self.max_height <= 16384):
            raise ValueError(f"rung {self.name}: width and height must be within 1..16384")
        if not 1 <= self.quality <= 100:
            raise ValueError(f"rung {self.name}: quality must be within 1..100")


@dataclass(frozen=True)
class RungSpec:
    """One rendition to make: a rung in a format, at a quality, and its spec digest."""

    rung: Rung
    format: str  # "webp" | "avif"
    quality: int

    @property
    def name(self) -> str:
        return self.rung.name

    @property
    def digest(self) -> str:
        return spec_digest(
            self.rung.name, self.rung.max_width, self.rung.max_height, self.format, self.quality
        )

    @property
    def ident(self) -> tuple[str, str]:
        return (self.rung.name, self.format)


def spec_digest(name: str, width: int, height: int, fmt: str, quality: int) -> str:
    """16 hex digits naming everything that decides a rendition's pixels.

    Migration 0007 writes this digest for existing thumbnails (as `large` WebP at the former
    fixed 1280x720@85); it must not change for the same inputs.
    """
    canonical = json.dumps(
        {
            "name": name,
            "w": width,
            "h": height,
            "format": fmt,
            "q": quality,
            "pipeline": _PIPELINE_VERSION,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


# The one size every thumbnail was stored in before the ladder (migration 0007 maps it).
LEGACY_LARGE = ("large", 1280, 720, "webp", 85)


def content_version(source_sha256: str, digest: str) -> str:
    """The short content version in a rendition's key: new source or new spec, new key."""
    return hashlib.sha256(f"{source_sha256}:{digest}".encode()).hexdigest()[:VERSION_LENGTH]


@dataclass(frozen=True)
class Ladder:
    """Rungs from largest to smallest, in WebP and optionally AVIF."""

    rungs: tuple[Rung, ...]
    avif: bool = False
    avif_quality: int = 50

    def __post_init__(self) -> None:
        if not self.rungs:
            raise ValueError("the ladder needs at least one rung")
        names = [r.name for r in self.rungs]
        if len(set(names)) != len(names):
            raise ValueError(f"rung names repeat: {', '.join(names)}")
        areas = [r.max_width * r.max_height for r in self.rungs]
        if areas != sorted(areas, reverse=True):
            raise ValueError("list rungs from the largest box to the smallest")
        if not 1 <= self.avif_quality <= 100:
            raise ValueError("avif quality must be within 1..100")

    @property
    def primary(self) -> Rung:
        """The largest rung: what an episode's thumbnail URL points at."""
        return self.rungs[0]

    @property
    def formats(self) -> tuple[str, ...]:
        return ("webp", "avif") if self.avif else ("webp",)

    def specs(self) -> tuple[RungSpec, ...]:
        """Every rendition to make, largest first, WebP before AVIF within a rung."""
        return tuple(
            RungSpec(rung, fmt, rung.quality if fmt == "webp" else self.avif_quality)
            for rung in self.rungs
            for fmt in self.formats
        )

    def digests(self) -> dict[tuple[str, str], str]:
        """(rung, format) -> spec digest, for comparing against stored renditions."""
        return {spec.ident: spec.digest for spec in self.specs()}

    def stale(self, stored: dict[tuple[str, str], str]) -> tuple[RungSpec, ...]:
        """The specs whose stored digest is missing or differs: what a run must (re)make."""
        return tuple(s for s in self.specs() if stored.get(s.ident) != s.digest)


def parse_ladder(text: str) -> tuple[Rung, ...]:
    """'name:WxH@Q,...' -> rungs. Raises ValueError naming the part that is wrong."""
    rungs = []
    for part in text.split(","):
        if not part.strip():
            continue
        match = _RUNG.fullmatch(part)
        if not match:
            raise ValueError(
                f"ladder rung {part.strip()!r}: write name:WIDTHxHEIGHT@QUALITY, "
                "e.g. large:1280x720@85"
            )
        name, width, height, quality = match.groups()
        rungs.append(Rung(name, int(width), int(height), int(quality)))
    if not rungs:
        raise ValueError("the ladder needs at least one rung, e.g. large:1280x720@85")
    return tuple(rungs)

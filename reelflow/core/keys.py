"""Object key naming. Pure: every key reelflow writes is built (and checked) here.

The seed's layout is kept:
    episode-thumbnails/{movie}/ep{n}_thumb.{ext}
    episode-previews/{movie}/ep{n}_preview.{ext}
and each rung of a thumbnail's ladder (reelflow.core.ladder), and each format of a preview clip
cut from a longer video (reelflow.core.video), is stored beside it, with the rung's name and a
content version (new source or new spec, new key):
    episode-thumbnails/{movie}/ep{n}_thumb-{rung}-{version}.{ext}
    episode-previews/{movie}/ep{n}_preview-clip-{version}.{ext}
Thumbnails stored before the ladder keep their seed key as their `large` rendition.
No input can name a key outside these prefixes: segments are restricted to a safe alphabet and
the finished key is checked again before it is returned.
"""

from __future__ import annotations

import re
from typing import Literal

from reelflow.core.errors import InvalidKey

__all__ = [
    "MANAGED_PREFIXES",
    "PREFIX_BY_KIND",
    "AssetKind",
    "asset_key",
    "check_managed_key",
    "is_managed_key",
    "movie_of_key",
    "parse_s3_url",
    "rendition_key",
    "s3_url",
    "safe_movie_id",
]

AssetKind = Literal["thumbnail", "preview"]

PREFIX_BY_KIND: dict[str, str] = {
    "thumbnail": "episode-thumbnails/",
    "preview": "episode-previews/",
}
MANAGED_PREFIXES: tuple[str, ...] = tuple(PREFIX_BY_KIND.values())

_MOVIE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
_EXT = re.compile(r"[a-z0-9]{1,8}")
_MANAGED_KEY = re.compile(
    r"(episode-thumbnails/[A-Za-z0-9][A-Za-z0-9_-]{0,127}/ep[0-9]{1,6}_thumb"
    r"(?:-[a-z][a-z0-9]{0,15}-[0-9a-f]{10})?"
    r"|episode-previews/[A-Za-z0-9][A-Za-z0-9_-]{0,127}/ep[0-9]{1,6}_preview"
    r"(?:-[a-z][a-z0-9]{0,15}-[0-9a-f]{10})?)\.[a-z0-9]{1,8}"
)
MAX_EPISODE_NUMBER = 999_999
_RUNG = re.compile(r"[a-z][a-z0-9]{0,15}")
_VERSION = re.compile(r"[0-9a-f]{10}")


def safe_movie_id(movie_id: str) -> str:
    """Return movie_id if it is safe as one key segment, else raise InvalidKey.

    Allowed: 1-128 of letters, digits, '_' and '-', starting with a letter or digit. Anything
    else ('..', '/', '%2F', spaces, unicode look-alikes) is refused rather than rewritten, so two
    different ids can never collapse onto the same key.
    """
    if not isinstance(movie_id, str) or not _MOVIE_ID.fullmatch(movie_id):
        raise InvalidKey(
            f"movie id {movie_id!r} is not allowed in a key: use 1-128 letters, digits, '_' or '-',"
            " starting with a letter or digit"
        )
    return movie_id


def asset_key(kind: AssetKind, movie_id: str, episode_number: int, ext: str) -> str:
    """The object key for one asset, e.g. asset_key('thumbnail', 'm1', 3, 'webp')."""
    if kind not in PREFIX_BY_KIND:
        raise InvalidKey(f"unknown asset kind {kind!r}")
    if (
        isinstance(episode_number, bool)
        or not isinstance(episode_number, int)
        or not (0 <= episode_number <= MAX_EPISODE_NUMBER)
    ):
        raise InvalidKey(
            f"episode number {episode_number!r} must be an integer 0-{MAX_EPISODE_NUMBER}"
        )
    ext = ext.lower().lstrip(".")
    if not _EXT.fullmatch(ext):
        raise InvalidKey(f"file extension {ext!r} is not allowed in a key")
    suffix = "thumb" if kind == "thumbnail" else "preview"
    key = f"{PREFIX_BY_KIND[kind]}{safe_movie_id(movie_id)}/ep{episode_number}_{suffix}.{ext}"
    return check_managed_key(key)


def rendition_key(
    movie_id: str,
    episode_number: int,
    rung: str,
    version: str,
    ext: str,
    kind: AssetKind = "thumbnail",
) -> str:
    """The key of one rendition, e.g. rendition_key('m1', 3, 'small', '0123456789', 'webp')
    -> 'episode-thumbnails/m1/ep3_thumb-small-0123456789.webp', or of a preview clip,
    rendition_key('m1', 3, 'clip', '0123456789', 'mp4', 'preview')
    -> 'episode-previews/m1/ep3_preview-clip-0123456789.mp4'."""
    if not isinstance(rung, str) or not _RUNG.fullmatch(rung):
        raise InvalidKey(f"rung name {rung!r} is not allowed in a key")
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        raise InvalidKey(f"content version {version!r} must be 10 lowercase hex digits")
    base = asset_key(kind, movie_id, episode_number, ext)
    stem, _, ext = base.rpartition(".")
    return check_managed_key(f"{stem}-{rung}-{version}.{ext}")


def is_managed_key(key: str) -> bool:
    """True only for keys of exactly the shape asset_key produces."""
    return bool(_MANAGED_KEY.fullmatch(key))


def movie_of_key(key_or_url: str) -> str | None:
    """The movie id a managed key (or s3:// URL of one) belongs to; None for any other key."""
    parsed = parse_s3_url(key_or_url) if key_or_url.startswith("s3://") else None
    key = parsed[1] if parsed else key_or_url
    if not is_managed_key(key):
        return None
    return key.split("/", 2)[1]


def check_managed_key(key: str) -> str:
    """Return key if reelflow manages it; raise InvalidKey otherwise (a last line of defence)."""
    if not is_managed_key(key):
        raise InvalidKey(f"key {key!r} is outside the managed prefixes {MANAGED_PREFIXES}")
    return key


def s3_url(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def parse_s3_url(url: str) -> tuple[str, str] | None:
    """('bucket', 'key') for an s3:// URL, else None (a temporary URL)."""
    if not url.startswith("s3://"):
        return None
    bucket, _, key = url[5:].partition("/")
    if not bucket or not key:
        return None
    return bucket, key

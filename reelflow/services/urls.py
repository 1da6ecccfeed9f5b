"""URLs an app can render for episode media: presigned, cached in two tiers, or from the CDN.

    asset_urls(["s3://bucket/episode-thumbnails/m1/ep1_thumb.webp", "https://tmp/x.jpg"])
    -> {"s3://...": "https://...?X-Amz-...", "https://tmp/x.jpg": "https://tmp/x.jpg"}

Inputs are object keys, s3:// URLs (what episode columns hold once stored) or temporary
http(s) URLs (passed through unchanged: an app renders whatever the episode holds). A key
outside the managed prefixes is refused with InvalidKey: nothing else in the bucket is signed.

With CDN_URL set, URLs are `{CDN_URL}/{key}`: nothing is signed or cached. Otherwise a page of
URLs goes: in-process LRU -> Redis (one MGET, only if USE_REDIS) -> sign the rest locally
(the object store's signed_urls: S3 presigns, the disk store signs /files/ URLs) -> store
them (local tier, and one pipelined SET ... EX to Redis). A cached URL is served only while
it has more than the safety margin of validity left. A Redis that is down, slow or refuses
auth costs one short timeout, then nothing until its breaker half-opens.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from reelflow.adapters.redis_cache import RedisTier
from reelflow.adapters.storage import ObjectStore, make_store
from reelflow.core.cache import CachePolicy, Entry, LocalCache
from reelflow.core.errors import InvalidKey
from reelflow.core.keys import is_managed_key
from reelflow.settings import Settings, get_settings

__all__ = ["Resolution", "UrlResolver", "asset_urls", "invalidate", "reset", "resolver"]

log = logging.getLogger(__name__)

_PASS_SCHEMES = ("http", "https")
_BUCKET = re.compile(r"[a-z0-9](?:[a-z0-9-]|\.(?!\.)){1,61}[a-z0-9]")


@dataclass(frozen=True)
class Resolution:
    """A page's URLs (input -> URL) and where they came from (counted per distinct object)."""

    urls: dict[str, str]
    local_hits: int = 0
    redis_hits: int = 0
    signed: int = 0
    passed_through: int = 0

    @property
    def cached(self) -> int:
        return self.local_hits + self.redis_hits


def _scheme(item: str) -> str:
    head, sep, _ = item.partition("://")
    return head.lower() if sep else ""


class UrlResolver:
    """The tiers for one Settings. Thread-safe; connects to nothing until first needed.

    `clock` (epoch seconds) decides TTLs and X-Amz-Date; `monotonic` drives the Redis breaker.
    Tests inject both instead of sleeping.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.bucket = settings.s3_bucket_name
        self.cdn = settings.cdn_url.rstrip("/") if settings.cdn_url else None
        self.policy = CachePolicy.clamp(
            settings.presign_expiry, settings.presign_cache_ttl, settings.presign_safety_margin
        )
        if self.policy.note and not self.cdn:
            log.warning("%s", self.policy.note)
        self.local = LocalCache(settings.presign_local_size if self.policy.ttl else 0)
        self._clock = clock
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._redis: Any = None
        self._store: ObjectStore | None = None

    # -- lazily built parts ------------------------------------------------------------------
    @property
    def redis(self) -> Any:
        """The RedisTier, or None when USE_REDIS is off, in CDN mode or caching is off."""
        if not (self.settings.use_redis and self.policy.ttl and not self.cdn):
            return None
        if self._redis is None:
            with self._lock:
                if self._redis is None:
                    self._redis = RedisTier.from_settings(self.settings, clock=self._monotonic)
        return self._redis

    @property
    def store(self) -> ObjectStore:
        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._store = make_store(self.settings)
        return self._store

    # -- inputs ------------------------------------------------------------------------------
    def _ident(self, item: str) -> str | None:
        """'bucket/key' for a managed key or s3:// URL; None for an http(s) URL to pass."""
        scheme = _scheme(item)
        if scheme in _PASS_SCHEMES:
            return None
        if scheme == "s3":
            bucket, _, key = item[5:].partition("/")
        elif scheme:
            raise InvalidKey(f"{item!r}: only s3:// and http(s) URLs or object keys are served")
        else:
            bucket, key = self.bucket, item
        if not _BUCKET.fullmatch(bucket) or not is_managed_key(key):
            raise InvalidKey(f"{item!r} is not a managed object: refusing to sign it")
        return f"{bucket}/{key}"

    # -- the page ----------------------------------------------------------------------------
    def resolve(self, items: Sequence[str], *, min_fresh: float = 0.0) -> Resolution:
        """URLs for a page of items. `min_fresh`: also re-sign cached URLs that would stop
        being usable within that many seconds (the warmup uses it to refresh early)."""
        if self.cdn is not None:
            return self._cdn_page(items)
        now = self._clock()
        at = now + min_fresh
        bucket_slash = self.bucket + "/"
        urls: dict[str, str] = {}
        idents: dict[str, str] = {}  # input -> 'bucket/key', for inputs not known yet
        passed = 0
        for item in items:
            if item.startswith("s3://"):
                idents[item] = item[5:]
            elif item.startswith(("https://", "http://")):
                urls[item] = item
                passed += 1
            else:
                idents[item] = bucket_slash + item
        hits = self.local.get_many(idents.values(), at) if idents else {}
        missing: dict[str, list[str]] = {}
        for item, ident in idents.items():
            url = hits.get(ident)
            if url is not None:
                urls[item] = url
                continue
            # Only validated idents ever enter a tier, so a hit needs no check; a miss does.
            checked = self._ident(item)
            if checked is None:
                urls[item] = item
                passed += 1
            else:
                missing.setdefault(checked, []).append(item)
        if not missing:
            return Resolution(urls, local_hits=len(hits), passed_through=passed)

        found = self._from_redis(missing, at)
        redis_hits = len(found)
        for ident, url in found.items():
            for item in missing.pop(ident):
                urls[item] = url
        signed = self._sign(missing, now) if missing else {}
        for ident, url in signed.items():
            for item in missing[ident]:
                urls[item] = url
        return Resolution(
            urls,
            local_hits=len(hits),
            redis_hits=redis_hits,
            signed=len(signed),
            passed_through=passed,
        )

    def _from_redis(self, missing: dict[str, list[str]], at: float) -> dict[str, str]:
        tier = self.redis
        if tier is None:
            return {}
        idents = list(missing)
        raws = tier.get_many(idents)
        if not raws:
            return {}
        found: dict[str, str] = {}
        keep: list[tuple[str, str, float]] = []
        usable_until = self.policy.usable_until
        for ident, raw in zip(idents, raws, strict=True):
            if raw is None:
                continue
            entry = Entry.decode(raw)
            if entry is None:
                continue
            until = usable_until(entry)
            if until > at:
                found[ident] = entry.url
                keep.append((ident, entry.url, until))
        self.local.put_many(keep)
        return found

    def _sign(self, missing: dict[str, list[str]], now: float) -> dict[str, str]:
        by_bucket: dict[str, list[str]] = {}
        for ident in missing:
            bucket, _, key = ident.partition("/")
            by_bucket.setdefault(bucket, []).append(key)
        signed: dict[str, str] = {}
        policy = self.policy
        for bucket, keys in by_bucket.items():
            urls, signed_at = self.store.signed_urls(
                bucket, keys, expires=self.settings.presign_expiry, now=now
            )
            prefix = bucket + "/"
            for key, url in zip(keys, urls, strict=True):
                signed[prefix + key] = url
            if not policy.ttl:
                continue
            entries = [
                (prefix + key, policy.entry(url, signed_at))
                for key, url in zip(keys, urls, strict=True)
            ]
            self.local.put_many([(i, e.url, policy.usable_until(e)) for i, e in entries])
            tier = self.redis
            if tier is not None:
                tier.set_many([(i, e.encode()) for i, e in entries], policy.ttl)
        return signed

    def _cdn_page(self, items: Sequence[str]) -> Resolution:
        urls: dict[str, str] = {}
        passed = 0
        for item in items:
            ident = self._ident(item)
            if ident is None:
                urls[item] = item
                passed += 1
            else:
                urls[item] = f"{self.cdn}/{quote(ident.partition('/')[2], safe='/~')}"
        return Resolution(urls, passed_through=passed)

    # -- invalidation ------------------------------------------------------------------------
    def invalidate(self, items: Iterable[str]) -> None:
        """Forget cached URLs for these objects in both tiers (Redis: best effort)."""
        idents = [ident for item in items if (ident := self._ident(item)) is not None]
        if not idents or self.cdn is not None:
            return
        self.local.discard(idents)
        tier = self.redis
        if tier is not None and not tier.delete_many(idents):
            log.warning(
                "Redis unavailable: %d cached URL(s) not invalidated there; they expire within %ds",
                len(idents),
                self.policy.ttl,
            )

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()


# -- one resolver per process and settings (resources-style) ----------------------------------
_resolvers: dict[tuple[Any, ...], UrlResolver] = {}
_resolvers_lock = threading.Lock()


def _secret(value: Any) -> Any:
    return value.get_secret_value() if value is not None else None


def _fingerprint(s: Settings) -> tuple[Any, ...]:
    """What a resolver depends on (secrets included: the key never leaves this dict)."""
    secret = _secret
    return (
        s.s3_endpoint,
        s.s3_region,
        s.s3_bucket_name,
        secret(s.s3_access_key_id),
        secret(s.s3_secret_access_key),
        s.cdn_url,
        s.use_redis,
        s.redis_host,
        s.redis_port,
        secret(s.redis_password),
        s.redis_db,
        s.redis_key_prefix,
        s.redis_timeout,
        s.redis_breaker_cooldown,
        s.presign_expiry,
        s.presign_cache_ttl,
        s.presign_safety_margin,
        s.presign_local_size,
    )


def resolver(settings: Settings | None = None) -> UrlResolver:
    """The process's resolver for these settings, built on first use."""
    settings = settings or get_settings()
    key = _fingerprint(settings)
    found = _resolvers.get(key)
    if found is None:
        with _resolvers_lock:
            found = _resolvers.get(key)
            if found is None:
                found = _resolvers[key] = UrlResolver(settings)
    return found


def reset() -> None:
    """Close and forget every resolver (tests; settings changed)."""
    with _resolvers_lock:
        for item in _resolvers.values():
            item.close()
        _resolvers.clear()


def asset_urls(keys: Sequence[str], *, settings: Settings | None = None) -> dict[str, str]:
    """Input -> URL for a page of keys, s3:// URLs or http(s) URLs (see the module docstring)."""
    return resolver(settings).resolve(keys).urls


def invalidate(keys: Iterable[str], settings: Settings | None = None) -> None:
    """Remove cached URLs of these objects from both tiers; best effort when Redis is down."""
    resolver(settings).invalidate(keys)


_KINDS = (("thumbnail", "thumbnail_url"), ("preview", "video_preview_url"))


def _origin(value: str | None) -> str:
    if not value:
        return "none"
    return "stored" if value.startswith("s3://") else "temporary"


def episode_media(
    movie_id: str,
    *,
    settings: Settings | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Each episode of a movie as an app renders it: the thumbnail and preview URLs, and the
    thumbnail's renditions (URL, width, height, format; largest first), a `srcset` per
    format, the placeholder (ThumbHash, dominant colour), and the preview's facts (size,
    length, the clip's MP4/WebM sources: `_preview`).

    One database query and one cache round trip for the whole page: the episodes with their
    stored assets and renditions in one statement (catalog.movie_page), every URL resolved in
    one call (one Redis MGET; reelflow.services.urls). With `limit` (and `offset`), one page
    of episodes in number order."""
    from reelflow.adapters.db import catalog
    from reelflow.core.keys import s3_url
    from reelflow.services import resources

    engine = resources.engine(settings)
    rung_order = [rung.name for rung in (settings or get_settings()).image_ladder().rungs]
    episodes, stored = catalog.movie_page(engine, movie_id, rung_order, limit=limit, offset=offset)
    thumbnails, previews = stored["thumbnail"], stored["preview"]
    held = [getattr(e, column) for e in episodes for _, column in _KINDS if getattr(e, column)]
    held += [
        s3_url(bucket, key)
        for asset in (*thumbnails.values(), *previews.values())
        for _, _, bucket, key, *_ in asset["renditions"]
    ]
    resolved = resolver(settings).resolve(held).urls if held else {}
    rows = []
    for episode in episodes:
        row: dict[str, Any] = {"episode": episode.number, "title": episode.title}
        for kind, column in _KINDS:
            value = getattr(episode, column)
            row[column] = resolved.get(value) if value else None
            row[f"{kind}_from"] = _origin(value)
        thumbnail = thumbnails.get(episode.number, {"renditions": []})
        renditions = [
            {
                "rung": rung,
                "format": fmt,
                "content_type": content_type,
                "width": width,
                "height": height,
                "url": resolved.get(s3_url(bucket, key)),
            }
            for rung, fmt, bucket, key, content_type, width, height in thumbnail["renditions"]
        ]
        row["renditions"] = renditions
        srcset: dict[str, str] = {}
        for item in renditions:
            entry = f"{item['url']} {item['width']}w"
            srcset[item["content_type"]] = ", ".join(
                filter(None, [srcset.get(item["content_type"]), entry])
            )
        row["srcset"] = srcset
        row["placeholder"] = (
            {"thumbhash": thumbnail["thumbhash"], "color": thumbnail["color"]}
            if thumbnail.get("thumbhash")
            else None
        )
        row["preview"] = _preview(previews.get(episode.number), resolved)
        rows.append(row)
    return rows


def _preview(stored: dict[str, Any] | None, resolved: dict[str, str]) -> dict[str, Any] | None:
    """A stored preview's facts for a <video> tag: its size and length, the clip's sources
    (MP4 first, then WebM when made; empty for a ready-made preview, whose URL is
    video_preview_url), and where in the source a clip was cut from."""
    from reelflow.core.keys import s3_url

    if stored is None:
        return None
    media = stored.get("media") or {}
    clip = media.get("clip") or {}
    source = media.get("source") or {}
    return {
        "content_type": stored["content_type"],
        "width": stored["width"],
        "height": stored["height"],
        "seconds": clip.get("seconds", source.get("seconds")),
        "clip_start": clip.get("start"),
        "source_seconds": source.get("seconds") if clip else None,
        "sources": [
            {
                "format": fmt,
                "content_type": content_type,
                "width": width,
                "height": height,
                "url": resolved.get(s3_url(bucket, key)),
            }
            for _, fmt, bucket, key, content_type, width, height in stored["renditions"]
        ],
    }

"""The presigned-URL cache's pure parts: the TTL policy, the stored entry, the in-process tier.

Times are epoch seconds. An entry is usable until the earlier of its cache deadline
(`fresh_until`: signed + cache TTL) and its URL's expiry less the safety margin, so a URL with
less validity left than the margin is never handed out, whichever tier it comes from.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["CachePolicy", "Entry", "LocalCache"]


@dataclass(frozen=True)
class CachePolicy:
    """How long a signed URL is valid (`expiry`) and how long it may be served from a cache.

    `ttl` is the cache TTL actually used: the configured one clamped to `expiry - margin`, so a
    cached URL always has at least `margin` seconds of validity left when it is served. 0 means
    "do not cache" (the margin leaves no room); `note` says why the TTL was changed, if it was.
    """

    expiry: int
    ttl: int
    margin: int
    note: str = ""

    @classmethod
    def clamp(cls, expiry: int, cache_ttl: int, margin: int) -> CachePolicy:
        if expiry <= 0:
            raise ValueError(f"presign expiry must be positive, got {expiry}")
        margin = max(0, margin)
        room = expiry - margin
        ttl = max(0, min(cache_ttl, room))
        note = ""
        if ttl == 0:
            note = (
                f"caching presigned URLs is off: the safety margin ({margin}s) leaves no room "
                f"within the expiry ({expiry}s)"
            )
        elif ttl < cache_ttl:
            note = (
                f"presign cache TTL clamped from {cache_ttl}s to {ttl}s "
                f"(expiry {expiry}s - safety margin {margin}s)"
            )
        return cls(expiry=expiry, ttl=ttl, margin=margin, note=note)

    def entry(self, url: str, signed_at: int) -> Entry:
        """The entry for a URL signed at `signed_at` (whole epoch seconds, as in X-Amz-Date)."""
        return Entry(url=url, expires_at=signed_at + self.expiry, fresh_until=signed_at + self.ttl)

    def usable_until(self, entry: Entry) -> int:
        """The instant after which `entry` must not be served any more."""
        return min(entry.fresh_until, entry.expires_at - self.margin)


@dataclass(frozen=True)
class Entry:
    """A cached URL with its absolute expiry and cache deadline (epoch seconds)."""

    url: str
    expires_at: int
    fresh_until: int

    def encode(self) -> bytes:
        return b"%d|%d|%s" % (self.expires_at, self.fresh_until, self.url.encode())

    @classmethod
    def decode(cls, raw: bytes | str | None) -> Entry | None:
        """The entry stored as `raw`, or None when it is missing or malformed (a miss)."""
        if raw is None:
            return None
        if isinstance(raw, str):
            raw = raw.encode()
        parts = raw.split(b"|", 2)
        if len(parts) != 3 or not parts[2]:
            return None
        try:
            return cls(url=parts[2].decode(), expires_at=int(parts[0]), fresh_until=int(parts[1]))
        except ValueError:
            return None


class LocalCache:
    """An in-process LRU of URLs, each usable until its own deadline. Thread-safe; size 0 is off.

    Lookups take a whole page under one lock acquisition: the warm path costs a dict lookup and
    a comparison per URL.
    """

    def __init__(self, size: int) -> None:
        self.size = max(0, size)
        self._data: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, ident: object) -> bool:
        return ident in self._data

    def get_many(self, idents: Iterable[str], at: float) -> dict[str, str]:
        """URLs of `idents` still usable after `at`; stale ones are dropped on the way."""
        hits: dict[str, str] = {}
        if not self.size:
            return hits
        data = self._data
        with self._lock:
            for ident in idents:
                found = data.get(ident)
                if found is None:
                    continue
                if found[0] > at:
                    hits[ident] = found[1]
                    data.move_to_end(ident)
                else:
                    del data[ident]
        return hits

    def put_many(self, items: Sequence[tuple[str, str, float]]) -> None:
        """Store (ident, url, usable_until) triples, evicting the least recently used."""
        if not self.size:
            return
        data = self._data
        with self._lock:
            for ident, url, until in items:
                data[ident] = (until, url)
                data.move_to_end(ident)
            while len(data) > self.size:
                data.popitem(last=False)

    def discard(self, idents: Iterable[str]) -> int:
        """Forget `idents`; return how many were there."""
        removed = 0
        with self._lock:
            for ident in idents:
                if self._data.pop(ident, None) is not None:
                    removed += 1
        return removed

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

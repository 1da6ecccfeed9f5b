"""The cache's pure parts: TTL clamping, the stored entry, the in-process LRU tier."""

import pytest

from reelflow.core.cache import CachePolicy, Entry, LocalCache


@pytest.mark.parametrize(
    ("expiry", "ttl", "margin", "want_ttl", "note"),
    [
        (3600, 1800, 300, 1800, ""),  # the defaults: 30 min of a 60 min URL
        (3600, 3600, 300, 3300, "clamped from 3600s to 3300s"),  # never past expiry - margin
        (3600, 99999, 0, 3600, "clamped"),
        (600, 1800, 300, 300, "clamped from 1800s to 300s"),
        (300, 1800, 300, 0, "caching presigned URLs is off"),  # the margin eats the expiry
        (60, 30, 600, 0, "off"),
        (3600, 1, 300, 1, ""),
    ],
)
def test_cache_ttl_is_clamped_below_expiry_minus_margin(expiry, ttl, margin, want_ttl, note):
    policy = CachePolicy.clamp(expiry, ttl, margin)
    assert policy.ttl == want_ttl
    assert policy.ttl <= max(0, expiry - margin)
    assert (note in policy.note) if note else policy.note == ""


def test_zero_expiry_is_refused():
    with pytest.raises(ValueError, match="expiry"):
        CachePolicy.clamp(0, 10, 0)


@pytest.mark.parametrize(
    ("signed_at", "margin", "ttl", "usable_until"),
    [
        (1000, 300, 1800, 2800),  # cache deadline first
        (1000, 300, 3300, 4300),  # both deadlines meet
    ],
)
def test_entry_deadlines(signed_at, margin, ttl, usable_until):
    policy = CachePolicy.clamp(3600, ttl, margin)
    entry = policy.entry("https://u", signed_at)
    assert entry.expires_at == signed_at + 3600
    assert policy.usable_until(entry) == usable_until
    assert entry.expires_at - policy.usable_until(entry) >= margin


def test_a_reader_with_a_larger_margin_serves_less_long():
    written = CachePolicy.clamp(3600, 3300, 300).entry("https://u", 0)
    reader = CachePolicy.clamp(3600, 1800, 900)
    assert reader.usable_until(written) == 3600 - 900


@pytest.mark.parametrize(
    "entry",
    [
        Entry("https://h/k?X-Amz-Signature=ab|cd", 1700000000, 1699999000),
        Entry("http://127.0.0.1:5000/b/k?a=1&b=2", 5, 4),
        Entry("https://h/ünï", 0, 0),
    ],
)
def test_entry_round_trips(entry):
    assert Entry.decode(entry.encode()) == entry
    assert Entry.decode(entry.encode().decode()) == entry


@pytest.mark.parametrize(
    "raw", [None, b"", b"garbage", b"1|2", b"x|2|https://u", b"1|y|https://u", b"1|2|"]
)
def test_malformed_entries_are_misses(raw):
    assert Entry.decode(raw) is None


def test_local_hit_and_miss():
    cache = LocalCache(10)
    cache.put_many([("b/k1", "u1", 100.0), ("b/k2", "u2", 50.0)])
    assert cache.get_many(["b/k1", "b/k2", "b/k3"], at=10) == {"b/k1": "u1", "b/k2": "u2"}


def test_local_entry_past_its_deadline_is_dropped():
    cache = LocalCache(10)
    cache.put_many([("b/k1", "u1", 100.0)])
    assert cache.get_many(["b/k1"], at=99.9) == {"b/k1": "u1"}
    assert cache.get_many(["b/k1"], at=100.0) == {}
    assert "b/k1" not in cache


def test_local_evicts_least_recently_used():
    cache = LocalCache(2)
    cache.put_many([("a", "ua", 9e9), ("b", "ub", 9e9)])
    cache.get_many(["a"], at=0)  # a is now the most recently used
    cache.put_many([("c", "uc", 9e9)])
    assert set(cache.get_many(["a", "b", "c"], at=0)) == {"a", "c"}
    assert len(cache) == 2


def test_local_size_zero_is_off():
    cache = LocalCache(0)
    cache.put_many([("a", "ua", 9e9)])
    assert cache.get_many(["a"], at=0) == {} and len(cache) == 0


def test_local_discard_and_clear():
    cache = LocalCache(10)
    cache.put_many([("a", "ua", 9e9), ("b", "ub", 9e9)])
    assert cache.discard(["a", "zz"]) == 1
    assert cache.get_many(["a", "b"], at=0) == {"b": "ub"}
    cache.clear()
    assert len(cache) == 0

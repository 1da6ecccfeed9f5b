"""Presigned URLs through the two-tier cache, against a real Redis (and moto's S3 over HTTP).

Time is injected (a fake wall clock for TTLs and X-Amz-Date, a fake monotonic clock for the
breaker): nothing here sleeps, and nothing asserts a duration.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid

import botocore.auth
import httpx
import pytest
import redis

from reelflow.core.cache import Entry
from reelflow.core.errors import InvalidKey
from reelflow.core.sigv4 import query_params
from reelflow.services import reset, urls
from reelflow.services.urls import UrlResolver
from reelflow.settings import get_settings
from tasks.invalidate import forget_cached_urls  # imports Prefect (it configures logging)
from tests.support.s3_client import s3_client
from tests.support.services import redis_env_values, redis_process

FAKE_S3 = {
    "S3_ENDPOINT": "http://127.0.0.1:9",  # signing is local: nothing is ever sent here
    "S3_ACCESS_KEY_ID": "AKIDTEST",
    "S3_SECRET_ACCESS_KEY": "test-secret-do-not-log",
    "S3_BUCKET_NAME": "media",
}
PASSWORD = "right-password-do-not-log"


class Clock:
    def __init__(self, now: float = 1_780_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def page(n: int, movie: str = "mv") -> list[str]:
    return [f"episode-thumbnails/{movie}/ep{i}_thumb.webp" for i in range(1, n + 1)]


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def mono() -> Clock:
    return Clock(100.0)


@pytest.fixture()
def configure(monkeypatch, clock, mono):
    """configure(**env) -> a UrlResolver on these settings with the fake clocks."""

    def make(**values: str) -> UrlResolver:
        for key, value in values.items():
            monkeypatch.setenv(key, value)
        reset()
        return UrlResolver(get_settings(), clock=clock, monotonic=mono)

    made: list[UrlResolver] = []

    def tracked(**values: str) -> UrlResolver:
        made.append(make(**values))
        return made[-1]

    yield tracked
    for resolver in made:
        resolver.close()
    reset()


@pytest.fixture()
def fake_s3(monkeypatch):
    monkeypatch.delenv("CDN_URL", raising=False)
    for key, value in FAKE_S3.items():
        monkeypatch.setenv(key, value)


@pytest.fixture()
def cached(redis_env, fake_s3, configure):
    """A resolver on the session's Redis (this test's own key prefix) and fake S3 settings."""
    return configure()


@pytest.fixture()
def own_redis(redis_proc, monkeypatch, fake_s3):
    """Point settings at this test's throwaway redis-server; returns (server, client)."""
    prefix = f"reelflow-test:{uuid.uuid4().hex[:8]}:"
    for key, value in redis_env_values(redis_proc.url, prefix).items():
        monkeypatch.setenv(key, value)
    client = redis.Redis.from_url(redis_proc.url, socket_timeout=5)
    yield redis_proc, client
    client.close()


def redis_keys(redis_env) -> set[str]:
    client = redis.Redis.from_url(redis_env["url"], decode_responses=True)
    try:
        return set(client.scan_iter(match=f"{redis_env['REELFLOW_REDIS_KEY_PREFIX']}*"))
    finally:
        client.close()


def commands(client: redis.Redis) -> dict[str, int]:
    return {
        name.removeprefix("cmdstat_"): int(stats["calls"])
        for name, stats in client.info("commandstats").items()
    }


def delta(before: dict[str, int], after: dict[str, int], name: str) -> int:
    return after.get(name, 0) - before.get(name, 0)


# --- hit, miss, tiers ------------------------------------------------------------------------


def test_miss_signs_then_local_hit_then_redis_hit_in_another_process(cached, redis_env, clock):
    keys = page(5)
    first = cached.resolve(keys)
    assert (first.signed, first.cached) == (5, 0)
    assert len(redis_keys(redis_env)) == 5

    clock.now += 60
    again = cached.resolve(keys)
    assert (again.local_hits, again.redis_hits, again.signed) == (5, 0, 0)
    assert again.urls == first.urls, "a cached URL is stable: browsers can cache the media"

    other = UrlResolver(get_settings(), clock=clock)  # another process: empty local tier
    try:
        third = other.resolve(keys)
    finally:
        other.close()
    assert (third.local_hits, third.redis_hits, third.signed) == (0, 5, 0)
    assert third.urls == first.urls


def test_stored_entry_holds_the_url_and_its_absolute_expiry(cached, redis_env, clock):
    [key] = page(1)
    url = cached.resolve([key]).urls[key]
    client = redis.Redis.from_url(redis_env["url"])
    try:
        name = f"{redis_env['REELFLOW_REDIS_KEY_PREFIX']}presign:v1:media/{key}"
        entry = Entry.decode(client.get(name))
        ttl = client.ttl(name)
    finally:
        client.close()
    assert entry is not None and entry.url == url
    assert entry.expires_at == int(clock.now) + 3600
    assert 1790 <= ttl <= 1800, "Redis EX is the (clamped) cache TTL"


def test_s3_url_and_bare_key_share_one_entry(cached):
    [key] = page(1)
    by_key = cached.resolve([key])
    by_url = cached.resolve([f"s3://media/{key}"])
    assert by_url.local_hits == 1
    assert by_url.urls[f"s3://media/{key}"] == by_key.urls[key]


def test_other_bucket_in_an_s3_url_is_signed_for_that_bucket(cached):
    key = page(1)[0]
    urls_ = cached.resolve([f"s3://old-bucket/{key}", key]).urls
    assert f"/old-bucket/{key}?" in urls_[f"s3://old-bucket/{key}"]
    assert f"/media/{key}?" in urls_[key]


@pytest.mark.parametrize(
    "temporary",
    ["https://cdn.example/tmp/x.jpg?sig=abc", "http://origin.example/p.webm", "HTTPS://A.B/c"],
)
def test_temporary_http_urls_pass_through_unchanged(cached, redis_env, temporary):
    result = cached.resolve([temporary])
    assert result.urls == {temporary: temporary} and result.passed_through == 1
    assert redis_keys(redis_env) == set()


@pytest.mark.parametrize(
    "bad",
    [
        "secrets/db.sql",
        "episode-thumbnails/../../etc/passwd",
        "s3://media/private/report.pdf",
        "s3://media/",
        "s3://../episode-thumbnails/m/ep1_thumb.webp",
        "s3://Bad_Bucket/episode-thumbnails/m/ep1_thumb.webp",
        "s3:///episode-thumbnails/m/ep1_thumb.webp",
        "ftp://media/episode-thumbnails/m/ep1_thumb.webp",
        "episode-thumbnails/m/ep1_thumb.webp/../../x",
        "",
    ],
)
def test_unmanaged_keys_are_refused(cached, bad):
    with pytest.raises(InvalidKey, match="managed|only s3"):
        cached.resolve([*page(2), bad])


def test_asset_urls_uses_one_resolver_per_process_and_settings(redis_env, fake_s3):
    reset()
    keys = page(3)
    first = urls.asset_urls(keys)
    assert urls.resolver() is urls.resolver(get_settings())
    assert urls.resolver().resolve(keys).local_hits == 3
    assert urls.asset_urls(keys) == first


# --- the safety margin -----------------------------------------------------------------------


def test_url_past_its_cache_deadline_is_resigned(cached, clock):
    keys = page(3)
    first = cached.resolve(keys)
    clock.now += 1799
    assert cached.resolve(keys).local_hits == 3
    clock.now += 1  # 1800 s: the cache TTL is over (Redis still holds it in real time)
    later = cached.resolve(keys)
    assert (later.local_hits, later.redis_hits, later.signed) == (0, 0, 3)
    assert later.urls != first.urls
    dates = {query_params(u)["X-Amz-Date"] for u in later.urls.values()}
    assert dates == {time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(clock.now))}


def test_url_with_less_than_the_margin_left_is_never_served(configure, redis_env, fake_s3, clock):
    resolver = configure(REELFLOW_PRESIGN_CACHE_TTL="99999")  # clamped to 3600 - 300
    assert resolver.policy.ttl == 3300
    [key] = page(1)
    first = resolver.resolve([key]).urls[key]
    clock.now += 3299  # 301 s of validity left: still served
    assert resolver.resolve([key]).urls[key] == first
    clock.now += 1  # exactly the margin left: re-signed
    fresh = resolver.resolve([key])
    assert fresh.signed == 1 and fresh.urls[key] != first


def test_redis_entry_written_with_little_validity_left_is_resigned(cached, redis_env, clock):
    """An entry some other writer left (say, with a smaller margin) is checked on read."""
    [key] = page(1)
    stale = Entry(
        url="https://stale.example/x", expires_at=int(clock.now) + 200, fresh_until=int(9e9)
    )
    client = redis.Redis.from_url(redis_env["url"])
    try:
        name = f"{redis_env['REELFLOW_REDIS_KEY_PREFIX']}presign:v1:media/{key}"
        client.set(name, stale.encode(), ex=600)
        result = cached.resolve([key])
        assert result.signed == 1 and result.urls[key] != stale.url
        assert Entry.decode(client.get(name)).expires_at == int(clock.now) + 3600
    finally:
        client.close()


def test_garbage_in_redis_is_a_miss(cached, redis_env):
    [key] = page(1)
    client = redis.Redis.from_url(redis_env["url"])
    try:
        name = f"{redis_env['REELFLOW_REDIS_KEY_PREFIX']}presign:v1:media/{key}"
        client.set(name, b"not an entry", ex=600)
    finally:
        client.close()
    result = cached.resolve([key])
    assert result.signed == 1 and result.urls[key].startswith("http://127.0.0.1:9/media/")


def test_warmup_refresh_resigns_entries_about_to_go_stale(cached, clock):
    keys = page(2)
    first = cached.resolve(keys)
    clock.now += 1500  # 300 s of cache time left
    assert cached.resolve(keys, min_fresh=200).cached == 2
    refreshed = cached.resolve(keys, min_fresh=600)
    assert refreshed.signed == 2 and refreshed.urls != first.urls


# --- batching --------------------------------------------------------------------------------


def test_a_page_costs_one_mget_and_no_per_key_get(own_redis, configure):
    _server, client = own_redis
    keys = page(50)
    cold_resolver = configure()
    before = commands(client)
    cold = cold_resolver.resolve(keys)
    after = commands(client)
    assert cold.signed == 50
    assert delta(before, after, "mget") == 1
    assert delta(before, after, "set") == 50
    assert delta(before, after, "get") == 0

    redis_only = configure(REELFLOW_PRESIGN_LOCAL_SIZE="0")
    before = commands(client)
    warm = redis_only.resolve(keys)
    after = commands(client)
    assert warm.redis_hits == 50 and warm.urls == cold.urls
    assert delta(before, after, "mget") == 1
    assert sum(delta(before, after, name) for name in ("get", "set", "exists")) == 0

    before = commands(client)
    assert cold_resolver.resolve(keys).local_hits == 50
    assert commands(client) == {**before, "info": before.get("info", 0) + 1}, (
        "a warm in-process page never talks to Redis"
    )


# --- Redis failures --------------------------------------------------------------------------


def test_redis_killed_mid_run_then_restarted(own_redis, configure, mono, caplog):
    server, _client = own_redis
    resolver = configure(REELFLOW_PRESIGN_LOCAL_SIZE="0", REELFLOW_REDIS_BREAKER_COOLDOWN="5")
    keys = page(20)
    assert resolver.resolve(keys).signed == 20
    assert resolver.resolve(keys).redis_hits == 20
    breaker = resolver.redis.breaker

    server.kill()
    with caplog.at_level(logging.INFO, logger="reelflow"):
        down = resolver.resolve(keys)  # the MGET fails: signed instead, no error
        assert down.signed == 20 and len(down.urls) == 20
        assert breaker.state == "open"
        attempts = breaker.stats().attempts
        for _ in range(50):
            assert resolver.resolve(keys).signed == 20
        mono.now += 4.9
        resolver.resolve(keys)
        stats = breaker.stats()
        assert stats.attempts == attempts, "no Redis attempt at all while the breaker is open"
        assert stats.skipped >= 51 * 2 - 1  # every MGET and every SET pipeline was skipped

        server.start()  # same port, empty (no persistence)
        mono.now += 0.2  # the cooldown is over: the next page probes
        probe = resolver.resolve(keys)
        assert probe.signed == 20 and breaker.state == "closed"
        back = resolver.resolve(keys)
        assert back.redis_hits == 20 and back.urls == probe.urls, "cache in use again"

    states = [r.getMessage() for r in caplog.records if r.name == "reelflow.adapters.redis_cache"]
    assert sum("unavailable" in m for m in states) == 1, "logged once, not per request"
    assert sum("is back" in m for m in states) == 1


def test_redis_that_stops_answering_times_out_once(own_redis, configure):
    server, _client = own_redis
    resolver = configure(REELFLOW_PRESIGN_LOCAL_SIZE="0", REELFLOW_REDIS_TIMEOUT="0.05")
    keys = page(10)
    resolver.resolve(keys)
    server.pause()
    try:
        slow = resolver.resolve(keys)  # one MGET times out after 50 ms, then signing
        assert slow.signed == 10
        stats = resolver.redis.breaker.stats()
        assert (stats.state, stats.failures) == ("open", 1)
        for _ in range(20):
            resolver.resolve(keys)
        assert resolver.redis.breaker.stats().attempts == stats.attempts
    finally:
        server.resume()


def test_nothing_listening_falls_back_to_signing(configure, fake_s3):
    from reelflow.devtools.s3server import free_port

    resolver = configure(USE_REDIS="true", REDIS_HOST="127.0.0.1", REDIS_PORT=str(free_port()))
    assert resolver.resolve(page(3)).signed == 3
    stats = resolver.redis.breaker.stats()
    assert (stats.state, stats.attempts) == ("open", 1)


def test_wrong_password_falls_back_and_is_never_logged(configure, fake_s3, caplog, clock):
    with redis_process(password=PASSWORD) as server, caplog.at_level(logging.DEBUG):
        values = redis_env_values(server.url, "pw-test:")
        wrong = configure(**{**values, "REDIS_PASSWORD": "wrong-password-do-not-log"})
        result = wrong.resolve(page(4))
        assert result.signed == 4 and len(result.urls) == 4
        assert wrong.redis.breaker.state == "open"
        failure = [r.getMessage() for r in caplog.records if "unavailable" in r.getMessage()]
        assert failure and "Authentication" in failure[0]

        right = configure(**values)
        right.resolve(page(4))
        assert right.resolve(page(4)).local_hits == 4
        other = UrlResolver(get_settings(), clock=clock)
        assert other.resolve(page(4)).redis_hits == 4
        other.close()
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "do-not-log" not in logged


# --- invalidation ----------------------------------------------------------------------------


def test_invalidate_removes_both_tiers(cached, redis_env):
    keys = page(3)
    first = cached.resolve(keys)
    assert len(redis_keys(redis_env)) == 3
    cached.invalidate([f"s3://media/{keys[0]}", keys[1], "https://tmp.example/passes.jpg"])
    assert f"media/{keys[0]}" not in cached.local and f"media/{keys[1]}" not in cached.local
    assert {k.rsplit("/", 1)[-1] for k in redis_keys(redis_env)} == {"ep3_thumb.webp"}
    again = cached.resolve(keys)
    assert (again.signed, again.local_hits) == (2, 1)
    assert again.urls[keys[2]] == first.urls[keys[2]]


def test_module_invalidate_reaches_the_process_resolver(redis_env, fake_s3, clock):
    reset()
    [key] = page(1)
    urls.asset_urls([key])
    urls.invalidate([key])
    assert f"media/{key}" not in urls.resolver().local
    assert redis_keys(redis_env) == set()


def test_invalidate_with_redis_down_is_best_effort(own_redis, configure, caplog):
    server, _client = own_redis
    resolver = configure()
    keys = page(2)
    resolver.resolve(keys)
    server.kill()
    with caplog.at_level(logging.WARNING):
        resolver.invalidate(keys)  # no error
    assert all(f"media/{k}" not in resolver.local for k in keys)
    assert "not invalidated" in caplog.text


# --- CDN mode --------------------------------------------------------------------------------


def test_cdn_mode_builds_urls_without_signing_or_caching(configure, redis_env, fake_s3):
    resolver = configure(CDN_URL="https://cdn.example.com/media/")
    keys = page(2)
    result = resolver.resolve([*keys, f"s3://media/{keys[0]}", "https://tmp.example/a.jpg"])
    assert result.urls == {
        keys[0]: f"https://cdn.example.com/media/{keys[0]}",
        keys[1]: f"https://cdn.example.com/media/{keys[1]}",
        f"s3://media/{keys[0]}": f"https://cdn.example.com/media/{keys[0]}",
        "https://tmp.example/a.jpg": "https://tmp.example/a.jpg",
    }
    assert result.signed == 0 and resolver.redis is None
    assert redis_keys(redis_env) == set()
    with pytest.raises(InvalidKey):
        resolver.resolve(["private/x.pdf"])


# --- real S3 (moto over HTTP) ----------------------------------------------------------------


def test_presigned_url_fetches_the_object_and_matches_botocore(env, monkeypatch):
    monkeypatch.setenv("USE_REDIS", "false")
    monkeypatch.delenv("CDN_URL", raising=False)
    reset()
    settings = get_settings()
    key = "episode-previews/mv-real/ep1_preview.webm"
    body = b"\x1a\x45\xdf\xa3" + uuid.uuid4().bytes * 64
    s3 = s3_client()
    s3.put_object(Bucket=settings.s3_bucket_name, Key=key, Body=body, ContentType="video/webm")

    started = time.time()
    url = urls.asset_urls([f"s3://{settings.s3_bucket_name}/{key}"])[
        f"s3://{settings.s3_bucket_name}/{key}"
    ]
    params = query_params(url)
    assert params["X-Amz-Expires"] == "3600"
    signed_at = dt.datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
    assert abs(signed_at.replace(tzinfo=dt.UTC).timestamp() - started) < 5

    response = httpx.get(url, timeout=10, trust_env=False)
    assert response.status_code == 200 and response.content == body

    # botocore's own signer, frozen at the same instant, produces the very same URL.
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: signed_at)
    expected = s3.generate_presigned_url(
        "get_object", Params={"Bucket": settings.s3_bucket_name, "Key": key}, ExpiresIn=3600
    )
    assert url == expected
    assert params["X-Amz-Signature"] == query_params(expected)["X-Amz-Signature"]


def test_failed_invalidation_is_logged_not_raised(caplog):
    reset()
    with caplog.at_level(logging.WARNING):
        forget_cached_urls("media", ["not/managed.txt"])  # InvalidKey inside: logged, not raised
    assert (
        "Could not invalidate cached URLs of 1 keys (s3://media/not/managed.txt...)" in caplog.text
    )
    assert "InvalidKey" in caplog.text

"""Outages ride-through: S3 or PostgreSQL goes down for 60 s in the middle of an import, for
real (a relay in front of moto that refuses connections; a PostgreSQL of the test's own,
stopped and started), and not one asset fails. Past REELFLOW_OUTAGE_MAX_WAIT assets fail with a
message naming the dependency.

The default retry window (1+2+4 s with jitter) alone failed ~1 in 12 assets in a 20 s S3
outage: here every asset waits for the dependency instead (reelflow.core.outage). Waiting is
holding: a call that failed is the asset's own counted attempt, never repeated by the gate."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from reelflow.devtools.origin import Fault, Origin
from reelflow.services import reset
from tasks.outage import gates_of_run
from tests.support.movies import db_state, objects, run_import, serve_movie
from tests.support.outages import Outage, TcpRelay
from tests.support.services import PostgresProcess, migrated_database

pytestmark = pytest.mark.usefixtures("prefect_server")

EPISODES = 30  # 60 assets
OUTAGE_SECONDS = 60.0


def _slow_movie(origin: Origin, movie_id: str) -> dict:
    # Each asset takes a moment to fetch, so the outage lands while assets are in flight.
    return serve_movie(origin, movie_id, EPISODES, every_asset=[Fault.latency(0.3)])


def _assert_all_stored(movie_id: str, summary, outage: Outage) -> None:
    assert outage.error is None, outage.error
    assert outage.began is not None and outage.ended is not None, "the outage happened"
    # The figures, for the record (pytest -s): the run's length against the outage's.
    print(
        f"{movie_id}: outage {outage.ended - outage.began:.1f} s; run {summary.seconds:.1f} s; "
        f"{summary.stored} stored, {summary.failed} failed"
    )
    assert summary.failed == 0, summary.failure_messages()
    assert summary.stored == 2 * EPISODES
    _, assets = db_state(movie_id)
    assert len(assets) == 2 * EPISODES
    assert {a.status for a in assets.values()} == {"stored"}
    assert max(a.attempts for a in assets.values()) <= 4, "retries never exceed the policy"
    # The calls that failed while it went down were counted as the assets' own attempts: the
    # gate holds calls, it never re-attempts one behind the task's back.
    assert sum(a.attempts for a in assets.values()) > len(assets), "failed attempts counted"


def _whole_assets_in_s3() -> int:
    """Previews in S3, and thumbnails with every rung of the default ladder in S3."""
    keys = objects("episode-")
    rungs = Counter(key.split("_thumb-")[0] for key in keys if "_thumb-" in key)
    previews = sum(1 for key in keys if key.startswith("episode-previews/"))
    return previews + sum(1 for count in rungs.values() if count == 3)


def test_a_60s_s3_outage_mid_run_fails_no_asset(env, monkeypatch):
    moto = urlsplit(env["S3_ENDPOINT"])
    with TcpRelay((moto.hostname, moto.port)) as relay, Origin() as origin:
        monkeypatch.setenv("S3_ENDPOINT", relay.endpoint)
        reset()
        manifest = _slow_movie(origin, "mv-s3-outage")
        stored_at_start: list[int] = []

        def go_down() -> None:
            stored_at_start.append(_whole_assets_in_s3())
            relay.down()

        outage = Outage(lambda: origin.requests() >= 16, go_down, relay.up, OUTAGE_SECONDS)
        outage.start()
        try:
            state, summary = run_import(manifest)
        finally:
            outage.cancel()
            outage.join(OUTAGE_SECONDS + 30)
    assert state.is_completed(), state.message
    _assert_all_stored("mv-s3-outage", summary, outage)
    assert stored_at_start and stored_at_start[0] < 2 * EPISODES, "it went down mid-run"
    s3 = gates_of_run(state.state_details.flow_run_id)["s3"]
    assert s3.waits >= 1, "assets waited for S3"
    assert s3.probes >= 1, "while down, the gate asked S3 itself (HEAD bucket)"
    assert s3.breaker.stats().opened >= 1 and s3.breaker.state == "closed"


@pytest.fixture()
def own_postgres(env, monkeypatch) -> Iterator[PostgresProcess]:
    """The test's own PostgreSQL (one it may stop), migrated, as the import's database."""
    server = PostgresProcess().start()
    try:
        with migrated_database(server.admin_dsn) as url:
            monkeypatch.setenv("DATABASE_URL", url)
            reset()
            yield server
            reset()
    finally:
        server.destroy()


def test_a_60s_postgres_outage_mid_run_fails_no_asset(own_postgres):
    with Origin() as origin:
        manifest = _slow_movie(origin, "mv-pg-outage")
        outage = Outage(
            lambda: origin.requests() >= 16, own_postgres.stop, own_postgres.start, OUTAGE_SECONDS
        )
        outage.start()
        try:
            state, summary = run_import(manifest)
        finally:
            outage.cancel()
            outage.join(OUTAGE_SECONDS + 30)
    assert state.is_completed(), state.message
    _assert_all_stored("mv-pg-outage", summary, outage)
    database = gates_of_run(state.state_details.flow_run_id)["database"]
    assert database.waits >= 1, "assets waited for the database"
    assert database.probes >= 1, "while down, the gate asked the database itself (SELECT 1)"
    assert database.breaker.stats().opened >= 1 and database.breaker.state == "closed"


def test_an_outage_past_the_maximum_wait_fails_assets_naming_s3(env, monkeypatch):
    moto = urlsplit(env["S3_ENDPOINT"])
    monkeypatch.setenv("REELFLOW_OUTAGE_MAX_WAIT", "2")
    monkeypatch.setenv("REELFLOW_OUTAGE_PROBE_SECONDS", "0.5")
    monkeypatch.setenv("REELFLOW_RETRIES", "1")
    with TcpRelay((moto.hostname, moto.port)) as relay, Origin() as origin:
        monkeypatch.setenv("S3_ENDPOINT", relay.endpoint)
        reset()
        relay.down()
        state, summary = run_import(serve_movie(origin, "mv-s3-gone", 4))
    assert state.is_failed()
    assert summary.failed == 8 and summary.stored == 0
    _, assets = db_state("mv-s3-gone")
    for asset in assets.values():
        assert asset.status == "failed"
        assert "S3 has been unavailable for" in asset.last_error, asset.last_error
        assert "cannot reach S3" in asset.last_error
        assert asset.attempts <= 2


def test_an_origin_host_that_refuses_connections_for_a_while_fails_no_asset(env):
    """Retries here are 50 ms apart (the test settings): without waiting for the host, every
    asset would fail within half a second of it going away."""
    with Origin() as origin, TcpRelay(("127.0.0.1", origin.port)) as relay:
        manifest = serve_movie(origin, "mv-origin-outage", 8, every_asset=[Fault.latency(0.2)])
        for episode in manifest["episodes"]:
            for field in ("thumbnail_url", "video_preview_url"):
                episode[field] = episode[field].replace(origin.base_url, relay.endpoint)
        outage = Outage(lambda: origin.requests() >= 4, relay.down, relay.up, 8.0)
        outage.start()
        try:
            state, summary = run_import(manifest)
        finally:
            outage.cancel()
            outage.join(40)
    assert state.is_completed(), state.message
    assert outage.began is not None and outage.ended is not None
    assert summary.failed == 0 and summary.stored == 16
    gates = gates_of_run(state.state_details.flow_run_id)
    host = gates["origin:127.0.0.1"]
    assert host.waits >= 1 and host.breaker.stats().opened >= 1
    assert host.probes >= 1, "while down, the gate asked the host itself (HEAD)"


def test_the_database_down_at_the_end_still_gives_the_summary_and_the_next_run_adopts(
    own_postgres, monkeypatch
):
    """PostgreSQL goes away mid-run and stays away past the wait: the run still ends with its
    report (not a bare OperationalError), each failure says the connection was refused, and
    the next run adopts what was uploaded without uploading it again."""
    monkeypatch.setenv("REELFLOW_OUTAGE_MAX_WAIT", "1")
    monkeypatch.setenv("REELFLOW_OUTAGE_PROBE_SECONDS", "0.5")
    # The first run cannot give its movie's lease back (the database is down): the second
    # waits for it to lapse, as a re-run after an outage does.
    monkeypatch.setenv("REELFLOW_MOVIE_LEASE_SECONDS", "10")
    monkeypatch.setenv("REELFLOW_MOVIE_LEASE_WAIT", "30")
    reset()
    with Origin() as origin:
        manifest = _slow_movie(origin, "mv-pg-gone")
        outage = Outage(lambda: origin.requests() >= 16, own_postgres.stop, lambda: None, 0)
        outage.start()
        try:
            state, report = run_import(manifest)
        finally:
            outage.cancel()
            outage.join(30)
        assert outage.began is not None, "the database went away mid-run"
        assert state.is_failed()
        assert report.failed > 0 and report.unrecorded == report.failed
        assert "not recorded" in report.headline() and "adopts" in report.headline()
        for line in report.lines:
            if line.status == "failed":
                assert "connection refused" in (line.error or "").lower(), line.error
        in_s3 = _whole_assets_in_s3()

        own_postgres.start()
        reset()
        state, again = run_import(manifest)
    assert state.is_completed(), state.message
    assert again.failed == 0 and again.stored + again.skipped == 2 * EPISODES
    assert again.uploaded == 2 * EPISODES - in_s3, "what was already uploaded is not re-sent"
    _, assets = db_state("mv-pg-gone")
    assert {a.status for a in assets.values()} == {"stored"}

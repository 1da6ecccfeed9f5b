"""One import or backfill per movie at a time: the movie's lease, on PostgreSQL and SQLite,
and what a second run does when the movie is busy (nothing: no download, no upload)."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from reelflow.adapters.db import leases, migrate
from reelflow.adapters.db.engine import make_engine
from reelflow.core.errors import MovieBusy
from reelflow.devtools.origin import Fault, Origin
from reelflow.services import resources
from tasks.lease import lease_name
from tests.support.movies import db_state, run_import, serve_movie
from tests.support.services import fresh_database

pytestmark = pytest.mark.usefixtures("prefect_server")

T0 = dt.datetime(2026, 12, 2, 3, 0, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path, pg_admin):
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'leases.db'}")
        migrate.upgrade(eng)
        yield eng
        eng.dispose()
        return
    with fresh_database(pg_admin) as url:
        eng = make_engine(url)
        migrate.upgrade(eng)
        yield eng
        eng.dispose()


def test_one_holder_at_a_time_until_the_lease_lapses(engine):
    first = leases.acquire(engine, "movie:m1", "a", label="import-m1", ttl=60, now=T0)
    assert first.ours and first.holder == "a"
    second = leases.acquire(
        engine, "movie:m1", "b", label="import-m1", ttl=60, now=T0 + dt.timedelta(seconds=59)
    )
    assert not second.ours and second.holder == "a" and second.label == "import-m1"
    assert second.expires_at == T0 + dt.timedelta(seconds=60)
    # Another name is free; the holder itself may take its own lease again.
    assert leases.acquire(engine, "movie:m2", "b", label="x", ttl=60, now=T0).ours
    assert leases.acquire(engine, "movie:m1", "a", label="import-m1", ttl=60, now=T0).ours
    # A lapsed lease (its holder died and stopped renewing) is taken over.
    later = T0 + dt.timedelta(seconds=61)
    taken = leases.acquire(engine, "movie:m1", "b", label="backfill", ttl=60, now=later)
    assert taken.ours and taken.holder == "b"
    assert not leases.renew(engine, "movie:m1", "a", ttl=60), "a lost it"
    leases.release(engine, "movie:m1", "a")  # not a's any more: left alone
    assert not leases.acquire(engine, "movie:m1", "c", label="", ttl=60, now=later).ours
    leases.release(engine, "movie:m1", "b")
    assert leases.acquire(engine, "movie:m1", "c", label="", ttl=60, now=later).ours


def test_renewing_keeps_the_lease_from_lapsing(engine):
    now = dt.datetime.now(dt.UTC)
    leases.acquire(engine, "movie:m1", "a", label="", ttl=60, now=now - dt.timedelta(seconds=59))
    assert leases.renew(engine, "movie:m1", "a", ttl=60)
    other = leases.acquire(
        engine, "movie:m1", "b", label="", ttl=60, now=now + dt.timedelta(seconds=30)
    )
    assert not other.ours, "renewed at `now`: good for another 60 s"


def test_an_import_of_a_busy_movie_does_nothing_and_says_who_has_it(env):
    leases.acquire(
        resources.engine(),
        lease_name("mv-busy"),
        "elsewhere:1:abc",
        label="import-mv-busy",
        ttl=600,
    )
    with Origin() as origin:
        state, result = run_import(serve_movie(origin, "mv-busy", 3))
        assert origin.requests() == 0, "nothing was downloaded"
    assert state.is_failed()
    assert isinstance(result, MovieBusy)
    assert "movie mv-busy is being worked on by import-mv-busy" in str(result)
    episodes, assets = db_state("mv-busy")
    assert episodes == [] and assets == {}, "nothing was written either"


@pytest.mark.usefixtures("prefect_server")
def test_two_concurrent_imports_of_one_movie_download_each_asset_once(env):
    with Origin() as origin:
        # One slow asset keeps the first import busy while the second one starts.
        slow = {(1, "thumbnail"): [Fault.latency(15.0)]}
        manifest = serve_movie(origin, "mv-twice", 6, slow)
        first: list = []
        running = threading.Thread(target=lambda: first.append(run_import(manifest)))
        running.start()
        deadline = time.monotonic() + 120
        while origin.requests() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        second_state, second = run_import(manifest)
        running.join(300)
        served = origin.requests()
    assert second_state.is_failed() and isinstance(second, MovieBusy), second
    assert "is being worked on by import-mv-twice" in str(second)
    ((state, report),) = first
    assert state.is_completed() and report.stored == 12
    assert served == 12, "each asset was downloaded once"
    _, assets = db_state("mv-twice")
    assert {a.attempts for a in assets.values()} == {1}, "attempts count one run's tries"
    # The lease was given back: a third import may run (and finds everything stored).
    state, third = run_import(manifest)
    assert state.is_completed() and third.skipped == 12


def test_a_lease_whose_local_process_is_gone_is_taken_over_at_once(env):
    """A run killed on this machine (SIGKILL, the OOM killer) leaves a lease that would block
    the movie until it lapses; its pid is gone, so the next import takes it over."""
    import socket
    import subprocess
    import sys

    from tasks.lease import dead_local_holder

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = f"{socket.gethostname()[:80]}:{gone.pid}:killed"
    assert dead_local_holder(dead)
    assert not dead_local_holder(f"{socket.gethostname()[:80]}:1:init"), "pid 1 is alive"
    assert not dead_local_holder(f"other-host:{gone.pid}:x"), "another machine's: unknown"
    leases.acquire(resources.engine(), lease_name("mv-crashed"), dead, label="import-x", ttl=600)
    with Origin() as origin:
        state, report = run_import(serve_movie(origin, "mv-crashed", 2))
    assert state.is_completed(), state.message
    assert report.stored == 4

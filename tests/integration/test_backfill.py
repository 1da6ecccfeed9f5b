"""Backfill: PostgreSQL (and SQLite for claiming), moto's S3 over HTTP, the fault-injecting
origin and a Prefect test server."""

from __future__ import annotations

import contextvars
import datetime as dt
import threading
from collections import Counter

import pytest
from sqlalchemy import insert, select, text, update
from sqlalchemy.orm import Session

from flows.backfill import backfill
from reelflow.adapters.db import claims, imports, migrate
from reelflow.adapters.db.engine import make_engine
from reelflow.adapters.db.schema import Asset, Episode, Movie
from reelflow.core.manifest import parse_manifest
from reelflow.core.models import AssetJob
from reelflow.devtools.origin import Fault, Origin
from reelflow.services import resources
from tests.support.cleanup import listing
from tests.support.movies import run_import, serve_movie

pytestmark = pytest.mark.usefixtures("prefect_server")

BROKEN = {
    (2, "thumbnail"): [Fault.status(404, times=None)],
    (3, "preview"): [Fault.status(500, times=None)],
}


def assets(movie_id: str) -> dict[tuple[int, str], Asset]:
    with Session(resources.engine()) as session:
        rows = session.execute(
            select(Episode.number, Asset).join(Asset).where(Episode.movie_id == movie_id)
        ).all()
        for _, asset in rows:
            session.expunge(asset)
    return {(number, asset.kind): asset for number, asset in rows}


def episodes(movie_id: str) -> list[Episode]:
    with Session(resources.engine()) as session:
        found = session.scalars(
            select(Episode).where(Episode.movie_id == movie_id).order_by(Episode.number)
        ).all()
        for episode in found:
            session.expunge(episode)
    return list(found)


def run_backfill(**params):
    state = backfill(return_state=True, **params)
    return state, state.result(raise_on_failure=False)


def test_backfill_completes_assets_that_failed_earlier(env, task_runner):
    with Origin() as origin:
        data = serve_movie(origin, "mv-bf", 4, BROKEN)
        state, summary = run_import(data)
        assert state.is_failed() and (summary.stored, summary.failed) == (6, 2)
        assert {k for k, a in assets("mv-bf").items() if a.status == "failed"} == set(BROKEN)

        serve_movie(origin, "mv-bf", 4)  # the origin is fixed
        origin.reset_log()
        state, report = run_backfill()
        fetched = origin.counts()

    assert state.is_completed(), state.message
    assert (report.candidates, report.assets, report.stored, report.failed) == (2, 2, 2, 0)
    assert report.uploaded == 2
    assert fetched == Counter({"/mv-bf/2/thumb.jpg": 1, "/mv-bf/3/preview.webm": 1}), (
        "only what failed is fetched again"
    )
    rows = assets("mv-bf")
    assert {a.status for a in rows.values()} == {"stored"} and len(rows) == 8
    assert all(a.claimed_at is None for a in rows.values()), "claims are released"
    assert rows[(2, "thumbnail")].attempts == 2  # one failed import + one backfill
    for ep in episodes("mv-bf"):
        assert ep.thumbnail_url.startswith("s3://") and ep.video_preview_url.startswith("s3://")
    assert len(listing()) == 4 * 3 + 4, "three rungs per thumbnail, and the previews"

    state, again = run_backfill()
    assert state.is_completed() and (again.candidates, again.assets) == (0, 0)


def test_backfill_that_still_fails_keeps_the_temporary_url(env, task_runner):
    with Origin() as origin:
        data = serve_movie(origin, "mv-still", 2, BROKEN)
        run_import(data)
        state, report = run_backfill()
    assert state.is_failed() and state.name == "Failed"
    assert (report.assets, report.stored, report.failed, report.abandoned) == (1, 0, 0, 1)
    failed = assets("mv-still")[(2, "thumbnail")]
    # a 404 cannot go away: the backfill gives up on it (tests/integration/test_dead_letters.py)
    assert failed.status == "abandoned" and "404" in failed.last_error
    assert failed.claimed_at is None
    assert episodes("mv-still")[1].thumbnail_url == data["episodes"][1]["thumbnail_url"]


def test_dry_run_lists_and_changes_nothing(env):
    with Origin() as origin:
        run_import(serve_movie(origin, "mv-dry", 4, BROKEN))
        before = {k: (a.status, a.attempts, a.updated_at) for k, a in assets("mv-dry").items()}
        origin.reset_log()
        state, report = run_backfill(dry_run=True)
        assert origin.requests() == 0
    assert state.is_completed()
    assert report.dry_run and report.candidates == 2 and report.assets == 0
    assert {(line.episode, line.kind, line.status) for line in report.lines} == {
        (2, "thumbnail", "failed"),
        (3, "preview", "failed"),
    }
    after = {k: (a.status, a.attempts, a.updated_at) for k, a in assets("mv-dry").items()}
    assert after == before
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:  # named after when it runs, and what it is
        run = client.read_flow_run(state.state_details.flow_run_id)
    started = run.expected_start_time.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M")
    assert run.name == f"backfill-{started}-dry-run"


def test_backfill_finds_rowless_episodes_and_dead_imports_but_not_live_ones(env):
    engine = resources.engine()
    with Origin() as origin:
        seed_era = serve_movie(origin, "mv-seed", 2)
        dead = serve_movie(origin, "mv-dead", 1)
        live = serve_movie(origin, "mv-live", 1)
        now = dt.datetime.now(dt.UTC)
        # Episodes written by the old app: temporary URLs and no asset rows at all.
        with engine.begin() as conn:
            conn.execute(
                insert(Movie).values(id="mv-seed", title="", created_at=now, updated_at=now)
            )
            for ep in seed_era["episodes"]:
                conn.execute(
                    insert(Episode).values(
                        movie_id="mv-seed",
                        number=ep["number"],
                        title="",
                        thumbnail_url=ep["thumbnail_url"],
                        video_preview_url=ep["video_preview_url"],
                        created_at=now,
                        updated_at=now,
                    )
                )
        # An import that died three hours ago, and one that is running right now.
        imports.upsert_manifest(engine, parse_manifest(dead))
        imports.upsert_manifest(engine, parse_manifest(live))
        with engine.begin() as conn:
            conn.execute(
                update(Asset)
                .where(
                    Asset.episode_id.in_(select(Episode.id).where(Episode.movie_id == "mv-dead"))
                )
                .values(updated_at=now - dt.timedelta(hours=3))
            )
        state, report = run_backfill(batch_size=2)
        assert origin.requests("/mv-live/1/thumb.jpg") == 0

    assert state.is_completed(), state.message
    assert (report.candidates, report.assets, report.stored, report.batches) == (6, 6, 6, 3)
    assert {a.status for a in assets("mv-seed").values()} == {"stored"}
    assert len(assets("mv-seed")) == 4
    assert {a.status for a in assets("mv-dead").values()} == {"stored"}
    assert {a.status for a in assets("mv-live").values()} == {"pending"}, "not ours to take"


def test_limit_and_batch_size(env):
    faults = {(n, "thumbnail"): [Fault.status(503, times=None)] for n in range(1, 6)}
    with Origin() as origin:
        run_import(serve_movie(origin, "mv-limit", 5, faults))
        serve_movie(origin, "mv-limit", 5)
        state, report = run_backfill(limit=3, batch_size=2)
    assert state.is_completed()
    assert (report.candidates, report.assets, report.stored, report.batches) == (5, 3, 3, 2)
    statuses = Counter(a.status for a in assets("mv-limit").values())
    assert statuses == Counter({"stored": 8, "failed": 2})


def test_two_backfills_at_once_never_import_the_same_asset_twice(env):
    faults = {
        (n, kind): [Fault.status(503, times=None)]
        for n in range(1, 7)
        for kind in ("thumbnail", "preview")
    }
    with Origin() as origin:
        run_import(serve_movie(origin, "mv-race", 6, faults))
        serve_movie(origin, "mv-race", 6)
        origin.reset_log()
        results: list = []

        def worker() -> None:
            results.append(run_backfill(batch_size=2))

        threads = [
            threading.Thread(target=contextvars.copy_context().run, args=(worker,))
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        # One movie: the backfills take turns on it (its lease), each leaving the assets the
        # other holds; whatever both left, the next run imports.
        state, rest = run_backfill()
        per_path = origin.counts()

    assert len(results) == 2 and all(state.is_completed() for state, _ in results)
    assert state.is_completed()
    assert sum(report.assets for _, report in results) + rest.assets == 12
    assert set(per_path.values()) == {1} and len(per_path) == 12, per_path
    assert {a.status for a in assets("mv-race").values()} == {"stored"}


# --- claiming, on both databases ------------------------------------------------------------


def _candidates(engine, movies: int, episodes_each: int) -> int:
    """Failed assets and row-less episodes; returns how many assets need a backfill."""
    now = dt.datetime.now(dt.UTC)
    for m in range(movies):
        movie_id = f"mv-claim-{m}"
        data = {
            "movie_id": movie_id,
            "episodes": [
                {
                    "number": n,
                    "thumbnail_url": f"https://origin.example/{movie_id}/{n}/t.jpg",
                    "video_preview_url": f"https://origin.example/{movie_id}/{n}/p.webm",
                }
                for n in range(1, episodes_each + 1)
            ],
        }
        if m % 2:
            for job in imports.upsert_manifest(engine, parse_manifest(data)):
                imports.record_failed(engine, job, "503", 1)
        else:
            with engine.begin() as conn:
                conn.execute(
                    insert(Movie).values(id=movie_id, title="", created_at=now, updated_at=now)
                )
                for ep in data["episodes"]:
                    conn.execute(
                        insert(Episode).values(
                            movie_id=movie_id,
                            number=ep["number"],
                            title="",
                            thumbnail_url=ep["thumbnail_url"],
                            video_preview_url=ep["video_preview_url"],
                            created_at=now,
                            updated_at=now,
                        )
                    )
    return movies * episodes_each * 2


def _claim_concurrently(engine, workers: int, batch: int) -> list[tuple[int, AssetJob]]:
    claimed: list[tuple[int, AssetJob]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        after = 0
        try:
            while True:
                items, after = claims.claim_backfill(engine, after_id=after, limit=batch)
                if not items:
                    return
                with lock:
                    claimed.extend(items)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return claimed


def _check_claims(engine, total: int, claimed: list[tuple[int, AssetJob]]) -> None:
    ids = [asset_id for asset_id, _ in claimed]
    assert len(ids) == len(set(ids)) == total, "every asset claimed exactly once"
    jobs = {(job.movie_id, job.number, job.kind) for _, job in claimed}
    assert len(jobs) == total
    assert all(job.source_url.startswith("https://origin.example/") for _, job in claimed)
    assert claims.count_backfill(engine) == 0, "all claimed, none claimable again"
    with engine.connect() as conn:
        assert conn.execute(select(Asset.id).where(Asset.claimed_at.is_(None))).first() is None
    claims.release_claims(engine, ids)
    assert claims.count_backfill(engine) == total, "released claims are claimable again"


def test_concurrent_claims_never_overlap_on_postgresql(env):
    engine = resources.engine()
    total = _candidates(engine, movies=6, episodes_each=10)
    assert claims.count_backfill(engine) == total
    _check_claims(engine, total, _claim_concurrently(engine, workers=6, batch=7))


def test_concurrent_claims_never_overlap_on_sqlite(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'claims.db'}")
    try:
        migrate.upgrade(engine)
        total = _candidates(engine, movies=4, episodes_each=10)
        assert claims.count_backfill(engine) == total
        _check_claims(engine, total, _claim_concurrently(engine, workers=4, batch=7))
        with engine.connect() as conn:
            assert conn.execute(text("select count(*) from assets")).scalar_one() == total
    finally:
        engine.dispose()


def test_an_abandoned_claim_can_be_taken_again(env):
    engine = resources.engine()
    total = _candidates(engine, movies=1, episodes_each=2)
    items, _ = claims.claim_backfill(engine, after_id=0, limit=100)
    assert len(items) == total and claims.count_backfill(engine) == 0
    # The worker died: three hours later its claims count as abandoned.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)
    assert claims.count_backfill(engine, now=later) == total
    again, _ = claims.claim_backfill(engine, after_id=0, limit=100, now=later)
    assert sorted(i for i, _ in again) == sorted(i for i, _ in items)


def test_cli_backfill_and_dry_run(env):
    import json

    from typer.testing import CliRunner

    from reelflow.cli.main import app

    runner = CliRunner()
    with Origin() as origin:
        run_import(serve_movie(origin, "mv-cli", 3, BROKEN))
        dry = runner.invoke(app, ["backfill", "--dry-run", "--json"])
        assert dry.exit_code == 0, dry.output
        data = json.loads(dry.output[dry.output.index("{") :])
        assert data["dry_run"] is True and data["candidates"] == 2
        still = runner.invoke(app, ["backfill", "--limit", "1"])  # takes the 404: given up on
        assert still.exit_code == 1 and "1 abandoned" in still.output
        assert "abandoned" in still.output.split("backfill: failures")[1]
        serve_movie(origin, "mv-cli", 3)
        fixed = runner.invoke(app, ["backfill"])
    assert fixed.exit_code == 0, fixed.output
    assert "1 stored" in fixed.output, "the 500 is imported; the abandoned 404 is left alone"


def test_backfill_leaves_a_movie_an_import_is_working_on_to_that_import(env):
    from reelflow.adapters.db import leases
    from tasks.lease import lease_name

    with Origin() as origin:
        run_import(serve_movie(origin, "mv-leased", 4, BROKEN))
        serve_movie(origin, "mv-leased", 4)  # fixed, but an import holds the movie
        leases.acquire(
            resources.engine(), lease_name("mv-leased"), "other:1:x", label="import-mv-leased",
            ttl=600,
        )  # fmt: skip
        origin.reset_log()
        state, report = run_backfill()
        assert origin.requests() == 0, "the busy movie was not fetched"
    assert state.is_completed(), state.message
    assert (report.stored, report.failed) == (0, 0)
    rows = assets("mv-leased")
    assert sorted(k for k, a in rows.items() if a.status == "failed") == sorted(BROKEN)
    assert all(a.claimed_at is None for a in rows.values()), "claims given back untouched"
    assert all("HTTP" in (a.last_error or "") for a in rows.values() if a.status == "failed")

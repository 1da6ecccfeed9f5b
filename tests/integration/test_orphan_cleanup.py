"""The orphan sweep against PostgreSQL, moto's S3 over HTTP and a Prefect test server.

moto stamps LastModified at PUT time, to the second. Tests that need old and young objects
upload the old ones, take `boundary()` (an instant every earlier object is at or before and
every later one is after), and run the sweep with `now = boundary + grace`.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import threading
import time

import pytest
from sqlalchemy import text, update
from typer.testing import CliRunner

import flows.orphan_cleanup as sweep_module
from flows.orphan_cleanup import measured_at, orphan_cleanup
from reelflow.adapters.db import imports
from reelflow.adapters.db.schema import Asset, Episode
from reelflow.cli.main import app
from reelflow.core.errors import SweepRefused
from reelflow.core.manifest import parse_manifest
from reelflow.devtools.origin import Origin
from reelflow.services import reset, resources
from reelflow.services.movies import delete_movie
from tests.support.cleanup import bucket, listing, put, queue_rows, seed_movie
from tests.support.movies import run_import, serve_movie
from tests.support.s3_faults import FaultyS3

pytestmark = pytest.mark.usefixtures("prefect_server")


def boundary() -> dt.datetime:
    """An instant at or after every object uploaded so far and before any uploaded later."""
    moment = int(time.time())
    time.sleep(moment + 1.05 - time.time())
    return dt.datetime.fromtimestamp(moment, dt.UTC)


def sweep(now=None, **params):
    """The flow, with the grace period measured from `now` (not a parameter: see measured_at)."""
    with measured_at(now) if now else contextlib.nullcontext():
        state = orphan_cleanup(return_state=True, **params)
    return state, state.result(raise_on_failure=False)


def counts(report) -> dict[str, int]:
    return {line.category: line.count for line in report.categories}


OLD_ORPHANS = {
    "episode-thumbnails/mv-old/ep1_thumb.webp",
    "episode-previews/mv-old/ep1_preview.mp4",
}
FOREIGN = {
    "episode-thumbnails/mv-live/notes.txt",
    "episode-thumbnails/mv-old/ep1_thumb.webp.tmp",
}
OUTSIDE = {"uploads/mv-old/ep1_thumb.webp", "episode-thumbnailsX/mv-old/ep1_thumb.webp"}
YOUNG = "episode-thumbnails/mv-new/ep1_thumb.webp"


def populate() -> tuple[set[str], dt.datetime]:
    """20 live objects, 2 old orphans, 2 foreign keys under the prefixes, 2 keys outside
    them, then 1 young orphan. Returns (live keys, boundary)."""
    live = set(seed_movie("mv-live", 10))
    for key in OLD_ORPHANS | FOREIGN | OUTSIDE:
        put(key, b"o" * 100)
    edge = boundary()
    put(YOUNG, b"y" * 10)
    return live, edge


def test_sweep_deletes_only_old_unreferenced_managed_objects(env):
    live, edge = populate()
    state, report = sweep(execute=True, grace_hours=1, now=edge + dt.timedelta(hours=1))

    assert state.is_completed(), state.message
    assert counts(report) == {"live": 20, "owed": 0, "young": 1, "orphan": 2, "foreign": 2}
    assert report.listed == 25, "keys outside the managed prefixes are not even listed"
    assert (report.deleted, report.deleted_bytes, report.failed) == (2, 200, 0)
    assert set(listing()) == live | FOREIGN | OUTSIDE | {YOUNG}
    assert report.cutoff == edge
    assert "Deleted 2 orphans" in state.message


def test_dry_run_reports_and_deletes_nothing(env):
    from prefect.artifacts import Artifact

    live, edge = populate()
    before = set(listing())
    state, report = sweep(grace_hours=1, now=edge + dt.timedelta(hours=1))

    assert state.is_completed() and not report.executed
    assert set(listing()) == before
    orphans = report.category("orphan")
    assert (orphans.count, orphans.bytes, set(orphans.samples)) == (2, 200, OLD_ORPHANS)
    assert set(report.category("foreign").samples) == FOREIGN
    assert report.allowed and report.deleted == 0
    assert "Dry run: would delete 2 orphans" in state.message
    artifact = Artifact.get("orphan-sweep")
    assert artifact is not None and "Dry run" in (artifact.description or "")
    rows = {row["category"]: row for row in json.loads(artifact.data)}
    assert rows["orphan"]["count"] == 2 and rows["live"]["count"] == 20


def test_refuses_an_empty_database_even_when_forced(env):
    for n in range(5):
        put(f"episode-thumbnails/mv-x/ep{n}_thumb.webp")
    before = set(listing())
    for force in (False, True):
        state, error = sweep(execute=True, grace_hours=0, force=force)
        assert state.is_failed()
        assert isinstance(error, SweepRefused)
        assert "wrong or an empty database" in state.message
        assert error.report is not None and error.report.category("orphan").count == 5
    assert set(listing()) == before


def test_refuses_a_database_that_records_another_bucket(env):
    """The 'wrong database' case: plenty of rows, none of them about this bucket."""
    keys = set(seed_movie("mv-elsewhere", 5))
    with resources.engine().begin() as conn:
        conn.execute(update(Asset).values(bucket="some-other-bucket"))
        for column in ("thumbnail_url", "video_preview_url"):
            conn.execute(
                text(f"UPDATE episodes SET {column} = replace({column}, :a, :b)"),
                {"a": f"s3://{bucket()}/", "b": "s3://some-other-bucket/"},
            )
    state, error = sweep(execute=True, grace_hours=0, force=True)
    assert isinstance(error, SweepRefused) and state.is_failed()
    assert set(listing()) == keys


def test_fraction_cap_refuses_and_force_overrides(env):
    live = set(seed_movie("mv-live", 5))  # 10 objects
    orphans = {f"episode-thumbnails/mv-old/ep{n}_thumb.webp" for n in range(3)}
    for key in orphans:
        put(key)
    edge = boundary()
    later = edge + dt.timedelta(hours=1)

    state, error = sweep(execute=True, grace_hours=1, now=later)
    assert state.is_failed() and isinstance(error, SweepRefused)
    assert "3 of 13 listed objects (23.1%)" in state.message and "10.0% cap" in state.message
    assert set(listing()) == live | orphans, "refused before anything was deleted"

    state, report = sweep(execute=True, grace_hours=1, now=later, max_fraction=0.5)
    assert state.is_completed() and report.deleted == 3  # a higher cap allows it
    for key in orphans:
        put(key)
    edge = boundary()
    state, report = sweep(execute=True, grace_hours=1, now=edge + dt.timedelta(hours=1), force=True)
    assert state.is_completed(), state.message
    assert report.deleted == 3 and "forced" in report.decision
    assert set(listing()) == live


def test_owed_keys_are_deleted_without_grace_and_the_queue_drained(env):
    live = set(seed_movie("mv-live", 2))
    gone = set(seed_movie("mv-deleted", 3))
    delete_movie("mv-deleted", launcher=None)  # no purge ran: the keys stay queued
    assert set(queue_rows()) == gone

    state, report = sweep(grace_hours=24)  # dry run: reported as owed
    assert counts(report)["owed"] == 6 and counts(report)["orphan"] == 0
    assert set(listing()) == live | gone

    state, report = sweep(execute=True, grace_hours=24)  # everything is young: only owed go
    assert state.is_completed(), state.message
    assert report.owed_purge is not None and report.owed_purge.deleted == 6
    assert set(listing()) == live and queue_rows() == {}


def test_keys_the_sweep_cannot_delete_are_queued_for_a_retry(env, s3_server, monkeypatch):
    seed_movie("mv-live", 10)
    stuck = "episode-thumbnails/mv-old/ep1_thumb.webp"
    put(stuck)
    put("episode-thumbnails/mv-old/ep2_thumb.webp")
    edge = boundary()
    with FaultyS3(s3_server.endpoint) as proxy:
        proxy.fail(stuck, "AccessDenied")
        monkeypatch.setenv("S3_ENDPOINT", proxy.endpoint)
        reset()
        state, report = sweep(execute=True, grace_hours=1, now=edge + dt.timedelta(hours=1))
        assert state.is_failed() and state.name == "Partial"
        assert (report.deleted, report.failed) == (1, 1)
        rows = queue_rows()
        assert set(rows) == {stuck} and rows[stuck].reason == "orphan"
        assert "AccessDenied" in rows[stuck].last_error
        proxy.clear()
        state, report = sweep(execute=True, grace_hours=24)  # owed now: no grace needed
        assert state.is_completed() and report.owed_purge.deleted == 1
        assert stuck not in listing() and queue_rows() == {}


def test_a_row_committed_between_census_and_deletion_protects_its_object(env, monkeypatch):
    """Pass 2 looks every page up again: an asset recorded after the census is kept."""
    seed_movie("mv-live", 10)
    late = "episode-thumbnails/mv-late/ep1_thumb.webp"
    put(late)
    edge = boundary()
    real = sweep_module.decide_cap

    def decide_then_record(**kwargs):
        decision = real(**kwargs)
        seed_movie("mv-late", 1, put_objects=False)  # an import records it right now
        return decision

    monkeypatch.setattr(sweep_module, "decide_cap", decide_then_record)
    state, report = sweep(execute=True, grace_hours=1, now=edge + dt.timedelta(hours=1))
    assert state.is_completed()
    assert report.category("orphan").count == 1, "pass 1 saw an orphan"
    assert report.deleted == 0 and late in listing()


def test_an_import_in_flight_loses_nothing(env, pg_url):
    """An object uploaded whose row is not committed yet: grace 0 would call it an orphan;
    the grace period keeps it, and the import then records it."""
    live = set(seed_movie("mv-live", 10))
    with Origin() as origin:
        data = serve_movie(origin, "mv-flight", 1)
        manifest = parse_manifest(data)
        imports.upsert_manifest(resources.engine(), manifest)  # the asset rows exist
        blocker = resources.engine().connect()
        tx = blocker.begin()
        blocker.execute(text("SELECT id FROM assets WHERE status = 'pending' FOR UPDATE"))
        outcome: dict = {}
        context = contextvars.copy_context()
        worker = threading.Thread(
            target=context.run, args=(lambda: outcome.update(r=run_import(data)),), daemon=True
        )
        worker.start()
        try:

            def uploaded() -> set[str]:  # the thumbnail's three renditions and the preview
                return {k for k in listing() if "/mv-flight/" in k}

            deadline = time.monotonic() + 120
            while not (len(uploaded()) == 4 and _waiting_on_locks() >= 1):
                assert time.monotonic() < deadline, "the import never reached its record step"
                time.sleep(0.2)
            in_flight = uploaded()

            _, report = sweep(grace_hours=0, now=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2))
            assert set(report.category("orphan").samples) >= in_flight, (
                "without a grace period the uploaded-but-unrecorded objects look orphaned"
            )

            state, report = sweep(execute=True, grace_hours=1)
            assert state.is_completed(), state.message
            assert report.category("young").count == 4 and report.deleted == 0
            assert in_flight <= set(listing())
        finally:
            tx.rollback()
            blocker.close()
        worker.join(timeout=120)
    state, summary = outcome["r"]
    assert state.is_completed(), state.message
    assert summary.stored == 2
    state, report = sweep(execute=True, grace_hours=0, now=dt.datetime.now(dt.UTC))
    assert report.deleted == 0 and counts(report)["live"] == 20 + 4
    assert live | in_flight <= set(listing())
    with resources.engine().connect() as conn:
        stored = conn.execute(
            text("SELECT count(*) FROM assets WHERE status = 'stored'")
        ).scalar_one()
    assert stored == 22


def _waiting_on_locks() -> int:
    with resources.engine().connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'")
        ).scalar_one()


def test_cli_dry_run_json_and_refusal(env):
    from reelflow.cli.main import app

    seed_movie("mv-live", 2)
    put("episode-thumbnails/mv-old/ep1_thumb.webp")
    runner = CliRunner()
    result = runner.invoke(app, ["cleanup", "orphans", "--json", "--grace-hours", "0"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output[result.output.index("{") :])
    assert data["executed"] is False and data["listed"] == 5
    orphan = next(c for c in data["categories"] if c["category"] == "orphan")
    assert orphan["count"] == 1 and orphan["samples"] == [
        "episode-thumbnails/mv-old/ep1_thumb.webp"
    ]

    table = runner.invoke(app, ["cleanup", "orphans", "--grace-hours", "0"])
    assert table.exit_code == 0 and "orphan" in table.output and "would delete" in table.output

    refused = runner.invoke(app, ["cleanup", "orphans", "--execute", "--grace-hours", "0"])
    assert refused.exit_code == 1
    assert "cap" in refused.output and "--force" in refused.output
    assert "episode-thumbnails/mv-old/ep1_thumb.webp" in listing()

    with resources.engine().begin() as conn:
        conn.execute(text("TRUNCATE movies, episodes, assets, purge_queue CASCADE"))
    empty = runner.invoke(app, ["cleanup", "orphans", "--execute", "--grace-hours", "0", "--force"])
    assert empty.exit_code == 1 and "empty database" in empty.output
    assert len(listing()) == 5
    assert Episode  # imported for the schema


def test_refuses_a_database_that_references_none_of_the_listed_objects(env):
    """Rows about this bucket, but for objects that are not there: the wrong database."""
    seed_movie("mv-ghost", 5, put_objects=False)
    keys = {f"episode-thumbnails/mv-real/ep{n}_thumb.webp" for n in range(5)}
    for key in keys:
        put(key)
    state, error = sweep(execute=True, grace_hours=0, force=True)
    assert isinstance(error, SweepRefused) and state.is_failed()
    assert "references none of the 5" in state.message
    assert set(listing()) == keys


@pytest.mark.parametrize(
    "params", [{"grace_hours": -1}, {"max_fraction": 0}, {"max_fraction": 1.5}]
)
def test_parameters_are_validated(env, params):
    put("episode-thumbnails/mv-x/ep1_thumb.webp")
    from prefect.exceptions import ParameterTypeError

    with pytest.raises(ParameterTypeError, match="invalid parameters"):
        orphan_cleanup(execute=True, **params)
    assert "episode-thumbnails/mv-x/ep1_thumb.webp" in listing()


def test_episode_urls_protect_objects_without_asset_rows(env):
    """Rows written before reelflow (no asset rows), even naming another movie's key."""
    from sqlalchemy import insert

    from reelflow.adapters.db.schema import Movie

    live = set(seed_movie("mv-live", 10))
    legacy = {
        "episode-thumbnails/mv-old/ep1_thumb.jpg",
        "episode-previews/mv-old/ep1_preview.mp4",
    }
    orphan = "episode-thumbnails/mv-old/ep2_thumb.jpg"
    for key in legacy | {orphan}:
        put(key)
    now = dt.datetime.now(dt.UTC)
    with resources.engine().begin() as conn:
        conn.execute(
            insert(Movie).values(id="mv-renamed", title="", created_at=now, updated_at=now)
        )
        conn.execute(
            insert(Episode).values(
                movie_id="mv-renamed",
                number=1,
                title="",
                thumbnail_url=f"s3://{bucket()}/episode-thumbnails/mv-old/ep1_thumb.jpg",
                video_preview_url=f"s3://{bucket()}/episode-previews/mv-old/ep1_preview.mp4",
                created_at=now,
                updated_at=now,
            )
        )
    state, report = sweep(execute=True, grace_hours=0, now=now + dt.timedelta(seconds=5))
    assert state.is_completed(), state.message
    assert counts(report)["live"] == 22 and report.deleted == 1
    assert set(listing()) == live | legacy


def test_the_clock_is_not_a_parameter_and_the_run_is_named_after_the_bucket(env):
    from prefect.utilities.callables import parameter_schema

    assert "now" not in parameter_schema(orphan_cleanup.fn).model_dump()["properties"]
    put("episode-thumbnails/mv-clock/ep1_thumb.webp")  # written just now: inside the grace
    state, report = sweep(grace_hours=1)
    assert counts(report).get("orphan", 0) == 0  # the real clock: too young to be an orphan
    state, report = sweep(grace_hours=1, now=dt.datetime.now(dt.UTC) + dt.timedelta(hours=2))
    assert counts(report)["orphan"] == 1  # measured from two hours later, it is one

    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
    assert run.name == f"sweep-{env['S3_BUCKET_NAME']}-dry-run"
    assert "now" not in run.parameters


def test_a_refused_executing_sweep_reports_once_in_one_size_format(env):
    """The report of an executing sweep that the cap refuses: titled as refused (not a dry
    run), the reason said once, sizes in one format, live objects counted once each."""
    import logging

    live = seed_movie("mv-live", 10)  # 20 objects, each named by its asset row and episode URL
    for n in range(3):
        put(f"episode-thumbnails/mv-gone/ep{n}_thumb.webp", b"o" * 1000)  # 3 orphans, 3000 B

    class Records(logging.Handler):
        def __init__(self) -> None:
            super().__init__(logging.DEBUG)
            self.messages: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.messages.append(record.getMessage())

    records = Records()
    loggers = [logging.getLogger(n) for n in ("prefect.flow_runs", "prefect.task_runs")]
    for logger in loggers:
        logger.addHandler(records)
    try:
        result = CliRunner().invoke(app, ["cleanup", "orphans", "--execute", "--grace-hours", "0"])
    finally:
        for logger in loggers:
            logger.removeHandler(records)

    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())  # rich wraps long lines
    reason = "refusing to sweep: it would delete 3 of 23 listed objects (13.0%)"
    assert text.count(reason) == 1, result.output
    assert "(refused: nothing deleted)" in text and "dry run" not in text.lower()
    assert "Refused by the safety cap, nothing deleted: 3 orphans (2.9 KB)" in text
    assert "│ orphan │ 3 │ 2.9 KB │" in " ".join(result.output.replace("┃", "│").split())
    assert f"database references {len(live)} objects here" in text
    assert "MB" not in text
    assert sum(reason in m for m in records.messages) == 1, "the run log says it once too"
    assert set(live) <= set(listing()), "nothing deleted"


def test_every_recorded_rendition_is_live_and_an_unrecorded_one_is_an_orphan(env):
    with Origin() as origin:
        state, _ = run_import(serve_movie(origin, "mv-rungs", 4, previews=False))
    assert state.is_completed()
    rendered = {k for k in listing() if k.startswith("episode-thumbnails/mv-rungs/")}
    assert len(rendered) == 4 * 3
    stray = "episode-thumbnails/mv-rungs/ep1_thumb-small-0123456789.webp"
    put(stray, b"s" * 50)  # a rendition whose row was never written (its upload's run died)
    edge = boundary()
    state, report = sweep(execute=True, grace_hours=1, now=edge + dt.timedelta(hours=1))
    assert state.is_completed(), state.message
    assert counts(report)["live"] == 12 and counts(report)["orphan"] == 1
    assert {k for k in listing() if k.startswith("episode-thumbnails/mv-rungs/")} == rendered

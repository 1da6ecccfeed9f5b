"""Deleting a movie and purging its objects: PostgreSQL, moto's S3 over HTTP (behind a
misbehaving proxy where needed) and a Prefect test server."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select, text, update
from typer.testing import CliRunner

from deployments.launch import PURGE_DEPLOYMENT, PrefectPurgeLauncher
from flows.purge_objects import purge_objects
from reelflow.adapters.db.schema import Asset, Episode, Movie, PurgeItem, StoredManifest
from reelflow.core.errors import ConfigurationError, MovieNotFound
from reelflow.core.manifest import parse_manifest
from reelflow.devtools.origin import Origin
from reelflow.services import reset, resources
from reelflow.services.manifests import stash_manifest
from reelflow.services.movies import delete_movie
from tests.support.cleanup import bucket, listing, put, queue_rows, seed_movie
from tests.support.movies import run_import, serve_movie
from tests.support.s3_faults import FaultyS3

pytestmark = pytest.mark.usefixtures("prefect_server")

PURGE = PrefectPurgeLauncher()


def count(model, **where) -> int:
    with resources.engine().connect() as conn:
        query = select(func.count()).select_from(model)
        for column, value in where.items():
            query = query.where(getattr(model, column) == value)
        return conn.execute(query).scalar_one()


def movie_keys(movie_id: str) -> set[str]:
    return {
        k
        for k in listing()
        if k.startswith((f"episode-thumbnails/{movie_id}/", f"episode-previews/{movie_id}/"))
    }


def test_deleting_an_imported_movie_removes_exactly_its_objects(env):
    with Origin() as origin:
        state, summary = run_import(serve_movie(origin, "mv-gone", 13))
    assert state.is_completed(), state.message
    keep = set(seed_movie("mv-keep", 2))
    strangers = {
        "episode-thumbnails/mv-gone/notes.txt",  # under the movie's prefix, not a managed key
        "episode-previews/mv-gone/ep1_preview.webm.bak",
        "uploads/mv-gone/ep1_thumb.webp",
    }
    for key in strangers:
        put(key)
    imported = movie_keys("mv-gone") - strangers
    assert summary.stored == 26
    assert len(imported) == 13 * (3 + 1), "three renditions per thumbnail, one preview"
    stash_manifest(parse_manifest({"movie_id": "mv-keep", "episodes": [{"number": 1}]}))
    assert count(StoredManifest, movie_id="mv-gone") == 1  # the import's, with its URLs

    result = delete_movie("mv-gone", launcher=PURGE, wait=True)

    assert (result.handoff, result.episodes, result.assets) == ("inline", 13, 26)
    assert sorted(result.queued) == sorted(f"s3://{bucket()}/{k}" for k in imported)
    assert result.purge is not None and result.purge.ok
    assert (result.purge.deleted, result.purge.failed) == (52, 0)
    assert result.purge.headline() == "Cleaned up 52 files from S3"
    assert set(listing()) == keep | strangers
    assert count(Movie, id="mv-gone") == count(Episode, movie_id="mv-gone") == 0
    assert count(Asset) == 4 and count(Movie) == 1
    assert count(PurgeItem) == 0
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    with get_client(sync_client=True) as client:  # the purge run is named after the movie
        named = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=["purge-movie-mv-gone"]))
        )
    assert len(named) == 1 and named[0].parameters["keys"]
    # The temporary URLs go with the movie; another movie's manifest stays.
    assert count(StoredManifest, movie_id="mv-gone") == 0
    assert count(StoredManifest, movie_id="mv-keep") == 1


def test_rows_and_outbox_commit_together_so_a_later_purge_finishes_the_job(env):
    """A crash right after the commit (here: nobody purges) forgets nothing."""
    keys = set(seed_movie("mv-crash", 13))
    legacy = "legacy/mv-crash/ep1.mp4"  # an episode pointing outside the managed prefixes
    put(legacy)
    with resources.engine().begin() as conn:
        conn.execute(
            update(Episode)
            .where(Episode.movie_id == "mv-crash", Episode.number == 13)
            .values(video_preview_url=f"s3://{bucket()}/{legacy}")
        )

    result = delete_movie("mv-crash", launcher=PURGE, fallback="queue")

    assert result.handoff == "queued"
    assert result.unmanaged == [f"s3://{bucket()}/{legacy}"]
    assert count(Movie) == count(Episode) == count(Asset) == 0
    rows = queue_rows()
    assert set(rows) == keys and len(keys) == 26
    assert {row.reason for row in rows.values()} == {"movie-deleted"}
    assert set(listing()) == keys | {legacy}, "nothing is deleted before the purge runs"

    state = purge_objects(return_state=True)
    report = state.result()
    assert state.is_completed() and report.deleted == 26
    assert set(listing()) == {legacy}
    assert queue_rows() == {}


def test_delete_movie_hands_off_to_a_background_thread(env):
    keys = set(seed_movie("mv-bg", 3))
    result = delete_movie("mv-bg", launcher=PURGE)
    assert result.handoff == "thread"
    assert count(Movie) == 0, "the rows are gone before delete_movie returns"
    report = result.join(timeout=120)
    assert report is not None and report.deleted == 6, result.purge_error
    assert not keys & set(listing())
    assert queue_rows() == {}


def test_delete_movie_submits_to_the_purge_deployment_when_there_is_one(env):
    from prefect.client.orchestration import get_client

    keys = seed_movie("mv-dep", 2)
    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name("purge-objects")
        deployment_id = client.create_deployment(flow_id=flow_id, name="purge")
        try:
            result = delete_movie("mv-dep", launcher=PURGE)
            assert result.handoff == "deployment", PURGE_DEPLOYMENT
            run = client.read_flow_run(result.flow_run_id)
        finally:
            client.delete_deployment(deployment_id)
    assert run.deployment_id == deployment_id
    assert sorted(run.parameters["keys"]) == sorted(keys)
    # No worker runs it here: the keys wait, safely, in the queue.
    assert set(queue_rows()) == set(keys)
    assert set(keys) <= set(listing())


def test_injected_delete_errors_are_reported_kept_and_retried_later(env, s3_server, monkeypatch):
    keys = seed_movie("mv-stuck", 13)
    denied = {
        "episode-thumbnails/mv-stuck/ep2_thumb.webp",
        "episode-previews/mv-stuck/ep5_preview.webm",
    }
    flaky = "episode-thumbnails/mv-stuck/ep7_thumb.webp"
    with FaultyS3(s3_server.endpoint) as proxy:
        for key in denied:
            proxy.fail(key, "AccessDenied", "Access Denied")
        proxy.fail(flaky, "InternalError", "We encountered an internal error", times=1)
        monkeypatch.setenv("S3_ENDPOINT", proxy.endpoint)
        reset()

        result = delete_movie("mv-stuck", launcher=PURGE, wait=True)

        report = result.purge
        assert report is not None
        assert (report.deleted, report.failed) == (24, 2)
        assert {f.key for f in report.failures} == denied
        assert all("AccessDenied" in f.error for f in report.failures)
        assert "2 could not be deleted" in report.headline()
        # the transient per-key error was retried within the run (the batch sent again)
        assert (flaky, "InternalError") in proxy.injected and proxy.delete_requests == 2
        rows = queue_rows()
        assert set(rows) == denied
        assert all(r.attempts == 1 and "AccessDenied" in r.last_error for r in rows.values())
        assert set(listing()) == denied, "the refused objects are still there"

        # S3 recovers: the next purge (or sweep) deletes what is owed.
        proxy.clear()
        state = purge_objects(return_state=True)
        assert state.is_completed(), state.message
        assert state.result().deleted == 2
        assert listing() == {} and queue_rows() == {}
    assert len(keys) == 26


def test_failed_purge_state_is_partial(env, s3_server, monkeypatch):
    seed_movie("mv-partial", 1)
    with FaultyS3(s3_server.endpoint) as proxy:
        proxy.fail("episode-thumbnails/mv-partial/ep1_thumb.webp")
        monkeypatch.setenv("S3_ENDPOINT", proxy.endpoint)
        reset()
        delete_movie("mv-partial", launcher=PURGE, fallback="queue")
        state = purge_objects(return_state=True)
        assert "episode-thumbnails/mv-partial/ep1_thumb.webp" in listing()
    assert state.is_failed() and state.name == "Partial"
    assert "Cleaned up 1 files from S3; 1 could not be deleted" in state.message


def test_purge_never_deletes_keys_in_use_or_outside_the_managed_prefixes(env):
    live = seed_movie("mv-live", 1)
    put("uploads/secret.pdf")
    owed = [
        (live[0], "replaced"),  # queued once, but an asset row references it again
        ("uploads/secret.pdf", "bogus"),  # not a managed key
        ("episode-thumbnails/gone/ep1_thumb.webp", "movie-deleted"),  # object already gone
    ]
    with resources.engine().begin() as conn:
        for key, reason in owed:
            conn.execute(
                text(
                    "INSERT INTO purge_queue (bucket, key, reason, attempts) VALUES (:b, :k, :r, 0)"
                ),
                {"b": bucket(), "k": key, "r": reason},
            )

    state = purge_objects(return_state=True)
    report = state.result(raise_on_failure=False)

    assert (report.deleted, report.revived, report.refused) == (1, 1, 1)
    assert state.is_failed(), "a refused key needs a human: the run says so"
    assert set(listing()) == set(live) | {"uploads/secret.pdf"}
    rows = queue_rows()
    assert set(rows) == {"uploads/secret.pdf"}
    assert "refused" in rows["uploads/secret.pdf"].last_error


def test_purge_of_a_subset_leaves_the_rest_of_the_queue(env):
    a = seed_movie("mv-a", 1)
    b = seed_movie("mv-b", 1)
    delete_movie("mv-a", launcher=PURGE, fallback="queue")
    delete_movie("mv-b", launcher=PURGE, fallback="queue")
    report = purge_objects(keys=a + ["episode-thumbnails/not-queued/ep1_thumb.webp"])
    assert report.deleted == 2
    assert set(queue_rows()) == set(b)
    assert set(listing()) == set(b)


def test_delete_movie_without_a_launcher_leaves_the_keys_queued(env):
    keys = seed_movie("mv-nolaunch", 2)
    with pytest.raises(ConfigurationError):
        delete_movie("mv-nolaunch", launcher=None, wait=True)
    assert count(Movie) == 1, "refused before anything changed"
    result = delete_movie("mv-nolaunch", launcher=None)
    assert result.handoff == "queued" and result.purge is None
    assert count(Movie) == 0
    assert set(queue_rows()) == set(keys) and set(keys) <= set(listing())


def test_delete_movie_that_does_not_exist(env):
    with pytest.raises(MovieNotFound):
        delete_movie("no-such-movie", launcher=PURGE)


def test_cli_delete_movie(env):
    from reelflow.cli.main import app

    seed_movie("mv-cli", 3)
    runner = CliRunner()
    result = runner.invoke(app, ["delete-movie", "mv-cli", "--yes"])
    assert result.exit_code == 0, result.output
    assert "Deleted movie mv-cli: 3 episodes, 6 assets" in result.output
    assert "Cleaned up 6 files from S3" in result.output
    assert listing() == {}

    missing = runner.invoke(app, ["delete-movie", "mv-cli", "--yes"])
    assert missing.exit_code == 2, "an unknown movie is bad input"
    assert "does not exist" in missing.output and len(missing.output.strip().splitlines()) == 1


def test_cli_delete_movie_without_yes_on_a_pipe_refuses_and_deletes_nothing(env):
    from reelflow.cli.main import app

    keys = seed_movie("mv-ask", 2)
    result = CliRunner().invoke(app, ["delete-movie", "mv-ask"], input="y\n")  # not a tty
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: not deleting movie mv-ask (2 episodes)")
    assert "stdin is not a terminal" in line and "--yes" in line
    assert set(keys) <= set(listing()) and queue_rows() == {}

    dry = CliRunner().invoke(app, ["delete-movie", "mv-ask", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output) == {
        "movie_id": "mv-ask",
        "episodes": 2,
        "stored_objects": 4,
        "dry_run": True,
    }
    assert set(keys) <= set(listing()) and queue_rows() == {}


@pytest.mark.parametrize(("answer", "code", "deleted"), [("n", 1, False), ("y", 0, True)])
def test_cli_delete_movie_asks_on_a_terminal(env, answer, code, deleted):
    """The operator's terminal: a pseudo-terminal on stdin, the answer typed into it."""
    import os
    import pty
    import subprocess
    import sys

    keys = seed_movie("mv-tty", 1)
    primary, secondary = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "reelflow.cli.main", "delete-movie", "mv-tty"],
            stdin=secondary,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.write(primary, f"{answer}\n".encode())
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        os.close(primary)
        os.close(secondary)
    assert proc.returncode == code, stdout + stderr
    assert "Delete movie mv-tty (1 episodes) and its 2 stored objects in S3? [y/N]" in stdout
    assert "Traceback" not in stdout + stderr
    assert (not set(keys) & set(listing())) is deleted


def test_cli_cleanup_purge_drains_the_queue(env):
    from reelflow.cli.main import app

    keys = seed_movie("mv-q", 2)
    delete_movie("mv-q", launcher=PURGE, fallback="queue")
    result = CliRunner().invoke(app, ["cleanup", "purge"])
    assert result.exit_code == 0, result.output
    assert "Cleaned up 4 files from S3" in result.output
    assert not set(keys) & set(listing()) and queue_rows() == {}


def test_a_key_the_store_says_is_missing_counts_as_deleted(env, s3_server, monkeypatch):
    """Rails #50583: a purge that stops at NoSuchKey leaves the other files behind."""
    seed_movie("mv-half-gone", 2)
    gone = "episode-thumbnails/mv-half-gone/ep1_thumb.webp"
    with FaultyS3(s3_server.endpoint) as proxy:
        proxy.fail(gone, "NoSuchKey", "The specified key does not exist.")
        monkeypatch.setenv("S3_ENDPOINT", proxy.endpoint)
        reset()
        result = delete_movie("mv-half-gone", launcher=PURGE, wait=True)
        assert (gone, "NoSuchKey") in proxy.injected
        assert result.purge is not None and result.purge.ok, result.purge
        assert result.purge.deleted == 4 and result.purge.failed == 0
        assert queue_rows() == {} and not movie_keys("mv-half-gone") - {gone}

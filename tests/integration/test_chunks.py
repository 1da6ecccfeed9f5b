"""Assets move in chunks (one task run each, named after its range): every asset keeps its own
retries and outcome, a retry resumes after the asset's last step that succeeded, and a chunk
run again moves only the assets not yet recorded."""

from __future__ import annotations

import datetime as dt
import re
import tempfile
import threading

import pytest

from reelflow.devtools.origin import Fault, Origin
from reelflow.services import reset
from tests.support.movies import db_state, objects, run_import, serve_movie
from tests.support.s3_faults import FlakyS3

pytestmark = pytest.mark.usefixtures("prefect_server")


def test_chunks_store_everything_and_rerun_is_idempotent(env):
    with Origin() as origin:
        data = serve_movie(origin, "mv-bulk", 3)
        state, first = run_import(data)
        origin.reset_log()
        again, second = run_import(data)
        assert origin.requests() == 0
    assert state.is_completed() and again.is_completed()
    assert (first.stored, first.uploaded, second.skipped, second.uploaded) == (6, 6, 6, 0)
    assert len(objects("episode-")) == 3 * 3 + 3, "three rungs per thumbnail, and the previews"


def test_partial_failure_names_the_step(env):
    faults = {
        (1, "thumbnail"): [Fault.status(404, times=None)],
        (2, "preview"): [Fault.status(503, times=2)],
    }
    with Origin() as origin:
        data = serve_movie(origin, "mv-bulk-partial", 2, faults)
        state, summary = run_import(data)
    assert state.is_failed() and state.name == "Partial"
    assert (summary.stored, summary.failed) == (3, 1)
    episodes, assets = db_state("mv-bulk-partial")
    failed = assets[(1, "thumbnail")]
    assert failed.last_error.startswith("download: OriginRejected") and failed.attempts == 1
    assert assets[(2, "preview")].attempts == 3 and assets[(2, "preview")].status == "stored"
    assert episodes[0].thumbnail_url == data["episodes"][0]["thumbnail_url"]


def test_failed_upload_is_retried_without_downloading_again(env, monkeypatch):
    proxy = FlakyS3(env["S3_ENDPOINT"], failures=2)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    monkeypatch.setenv("S3_ENDPOINT", proxy.endpoint)
    monkeypatch.setenv("REELFLOW_IMPORT_CONCURRENCY", "1")
    reset()
    try:
        with Origin() as origin:
            state, summary = run_import(serve_movie(origin, "mv-resume", 1))
            downloads = origin.requests()
    finally:
        proxy.shutdown()
    assert state.is_completed(), state.message
    assert summary.stored == 2 and proxy.puts == 2 + 3 + 1, "2 refused, 3 rungs, 1 preview"
    assert downloads == 2, "each asset was downloaded once although its upload was retried"
    _, assets = db_state("mv-resume")
    assert sum(a.attempts for a in assets.values()) == 4


def test_one_task_run_per_chunk_named_after_its_range(env, monkeypatch):
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    monkeypatch.setenv("REELFLOW_IMPORT_CONCURRENCY", "2")
    reset()
    with Origin() as origin:
        state, summary = run_import(serve_movie(origin, "mv-chunks", 12))
    assert state.is_completed(), state.message
    assert summary.stored == 24

    async def task_runs():
        async with get_client() as client:
            flow_run_id = state.state_details.flow_run_id
            return await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )

    import asyncio

    names = [run.name for run in asyncio.run(task_runs()) if run.name.startswith("transfer ")]
    sizes = sorted(int(name.rsplit("[", 1)[1].rstrip("]")) for name in names)
    assert sum(sizes) == 24, names
    assert len(names) < 24, f"{len(names)} task runs for 24 assets: not chunked"
    assert all(re.fullmatch(r"transfer mv-chunks ep\d+(-ep\d+)? \[\d+\]", n) for n in names)


def test_a_chunk_run_again_moves_only_what_is_not_recorded(env):
    """What a killed worker's chunk leaves behind: some assets recorded since the run began.
    Its re-run (transfer_jobs with the run's start) fetches none of those again."""
    from reelflow.adapters.db import imports
    from reelflow.core.manifest import parse_manifest
    from reelflow.services import resources
    from tasks.transfer import transfer_jobs

    began = dt.datetime.now(dt.UTC)
    with Origin() as origin:
        data = serve_movie(origin, "mv-rerun", 3)
        state, _ = run_import(data)
        assert state.is_completed(), state.message
        jobs = imports.upsert_manifest(resources.engine(), parse_manifest(data))
        origin.reset_log()
        with tempfile.TemporaryDirectory() as spool:
            resumed = transfer_jobs(tuple(jobs), spool, began)
        assert origin.requests() == 0, "a recorded asset was fetched again"
        assert [o.status for o in resumed] == ["stored"] * len(jobs)
        assert {o.key for o in resumed} == {a.key for a in db_state("mv-rerun")[1].values()}
        # Recorded before the run began: an earlier run's work, moved again (and checked).
        later = dt.datetime.now(dt.UTC)
        with tempfile.TemporaryDirectory() as spool:
            again = transfer_jobs(tuple(jobs), spool, later)
        assert origin.requests() == len(jobs)
    assert [o.status for o in again] == ["stored"] * len(jobs)
    assert not any(o.uploaded for o in again), "the same bytes were not uploaded twice"

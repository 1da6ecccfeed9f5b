"""Large runs use one task run per asset; same outcomes as per-step runs, and a retry resumes
after the last step that succeeded."""

from __future__ import annotations

import threading

import pytest

from reelflow.devtools.origin import Fault, Origin
from reelflow.services import reset
from tests.support.movies import db_state, objects, run_import, serve_movie
from tests.support.s3_faults import FlakyS3

pytestmark = pytest.mark.usefixtures("prefect_server")


@pytest.fixture()
def per_asset(env, monkeypatch):
    monkeypatch.setenv("REELFLOW_STEP_TASKS_MAX_ASSETS", "0")
    reset()
    return env


def test_per_asset_runs_store_everything_and_rerun_is_idempotent(per_asset):
    with Origin() as origin:
        data = serve_movie(origin, "mv-bulk", 3)
        state, first = run_import(data)
        origin.reset_log()
        again, second = run_import(data)
        assert origin.requests() == 0
    assert state.is_completed() and again.is_completed()
    assert (first.stored, first.uploaded, second.skipped, second.uploaded) == (6, 6, 6, 0)
    assert len(objects("episode-")) == 3 * 3 + 3, "three rungs per thumbnail, and the previews"


def test_per_asset_partial_failure_names_the_step(per_asset):
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


def test_failed_upload_is_retried_without_downloading_again(per_asset, monkeypatch):
    proxy = FlakyS3(per_asset["S3_ENDPOINT"], failures=2)
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

"""Retries: transient only, exponential backoff with real jitter, and S3's own transient errors
from a misbehaving S3 endpoint (a proxy in front of moto)."""

from __future__ import annotations

import logging
import re
import statistics
import threading

import pytest

from reelflow.devtools.origin import Fault, Origin
from reelflow.services import reset
from tests.support.movies import db_state, run_import, serve_movie
from tests.support.s3_faults import FlakyS3

pytestmark = pytest.mark.usefixtures("prefect_server")

RETRY_LINE = re.compile(r"Retry (\d+)/\d+ will start ([0-9.]+) second")


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.delays: dict[int, list[float]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        match = RETRY_LINE.search(record.getMessage())
        if match:
            self.delays.setdefault(int(match[1]), []).append(float(match[2]))


def test_backoff_doubles_and_jitter_really_varies(env, monkeypatch):
    monkeypatch.setenv("REELFLOW_RETRY_BASE_DELAY", "0.2")
    monkeypatch.setenv("REELFLOW_RETRY_JITTER", "0.3")
    monkeypatch.setenv("REELFLOW_RETRIES", "2")
    monkeypatch.setenv("REELFLOW_IMPORT_CONCURRENCY", "8")
    reset()
    collect = Collect()
    logger = logging.getLogger("prefect.task_runs")
    logger.addHandler(collect)
    faults = {(n, "thumbnail"): [Fault.status(503, times=None)] for n in range(1, 9)}
    try:
        with Origin() as origin:
            run_import(serve_movie(origin, "mv-jitter", 8, faults))
    finally:
        logger.removeHandler(collect)
    first, second = collect.delays[1], collect.delays[2]
    assert len(first) == len(second) == 8
    # Jittered around base * 2**n, never above (1 + jitter) times it.
    assert all(0 < d <= 0.2 * 1.3 + 1e-9 for d in first)
    assert all(0 < d <= 0.4 * 1.3 + 1e-9 for d in second)
    assert statistics.mean(second) > statistics.mean(first), "the backoff grows"
    assert len(set(first)) >= 6 and len(set(second)) >= 6, "eight retries, eight different delays"
    assert statistics.pstdev(first) > 0.005


@pytest.fixture()
def flaky_s3(env, monkeypatch):
    server = FlakyS3(env["S3_ENDPOINT"], failures=2)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("S3_ENDPOINT", server.endpoint)
    monkeypatch.setenv("REELFLOW_IMPORT_CONCURRENCY", "1")
    reset()
    yield server
    server.shutdown()


def test_s3_throttling_is_retried(flaky_s3):
    with Origin() as origin:
        state, summary = run_import(serve_movie(origin, "mv-slowdown", 1))
    assert state.is_completed(), state.message
    assert summary.stored == 2
    assert flaky_s3.puts == 2 + 3 + 1, "two SlowDown answers, then 3 rungs and the preview"
    _, assets = db_state("mv-slowdown")
    assert sum(a.attempts for a in assets.values()) == 4


def test_s3_refusal_is_terminal(env, monkeypatch):
    monkeypatch.setenv("S3_BUCKET_NAME", "no-such-bucket-here")
    reset()
    with Origin() as origin:
        state, _ = run_import(serve_movie(origin, "mv-nobucket", 1))
        fetched = origin.requests()
    assert state.is_failed()
    _, assets = db_state("mv-nobucket")
    assert all("StorageRejected" in a.last_error for a in assets.values())
    assert all(a.attempts == 1 for a in assets.values()), "a missing bucket is not retried"
    assert fetched == 2

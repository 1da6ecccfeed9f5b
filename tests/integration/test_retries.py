"""Retries: transient only, exponential backoff with real jitter, and S3's own transient errors
from a misbehaving S3 endpoint (a proxy in front of moto)."""

from __future__ import annotations

import logging
import re
import statistics
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from test_import_flow import db_state, run, serve_movie

from reelflow import resources
from reelflow.sandbox.origin import Fault, Origin
from reelflow.settings import reset_settings

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
    reset_settings()
    collect = Collect()
    logger = logging.getLogger("prefect.task_runs")
    logger.addHandler(collect)
    faults = {(n, "thumbnail"): [Fault.status(503, times=None)] for n in range(1, 9)}
    try:
        with Origin() as origin:
            run(serve_movie(origin, "mv-jitter", 8, faults))
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


class FlakyS3(ThreadingHTTPServer):
    """Forwards to moto, but answers the first `failures` object PUTs with 503 SlowDown."""

    daemon_threads = True

    def __init__(self, upstream: str, failures: int) -> None:
        super().__init__(("127.0.0.1", 0), FlakyS3Handler)
        self.upstream = upstream
        self.failures = failures
        self.puts = 0
        self.lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class FlakyS3Handler(BaseHTTPRequestHandler):
    server: FlakyS3
    protocol_version = "HTTP/1.1"

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        is_object_put = self.command == "PUT" and self.path.count("/") >= 2
        if is_object_put:
            with self.server.lock:
                self.server.puts += 1
                fail = self.server.puts <= self.server.failures
            if fail:
                payload = (
                    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
                    b"<Message>Please reduce your request rate.</Message></Error>"
                )
                self.send_response(503)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in {"host"}}
        response = httpx.request(
            self.command,
            self.server.upstream + self.path,
            headers=headers,
            content=body,
            timeout=30,
            trust_env=False,
        )
        self.send_response(response.status_code)
        for key, value in response.headers.items():
            if key.lower() not in {"content-length", "transfer-encoding", "connection"}:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(response.content)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.content)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def flaky_s3(env, monkeypatch):
    server = FlakyS3(env["S3_ENDPOINT"], failures=2)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("S3_ENDPOINT", server.endpoint)
    monkeypatch.setenv("REELFLOW_IMPORT_CONCURRENCY", "1")
    reset_settings()
    resources.dispose()
    yield server
    server.shutdown()


def test_s3_throttling_is_retried(flaky_s3):
    with Origin() as origin:
        state, summary = run(serve_movie(origin, "mv-slowdown", 1))
    assert state.is_completed(), state.message
    assert summary.stored == 2
    assert flaky_s3.puts == 4, "two SlowDown answers, then both objects stored"
    _, assets = db_state("mv-slowdown")
    assert sum(a.attempts for a in assets.values()) == 4


def test_s3_refusal_is_terminal(env, monkeypatch):
    monkeypatch.setenv("S3_BUCKET_NAME", "no-such-bucket-here")
    reset_settings()
    with Origin() as origin:
        state, _ = run(serve_movie(origin, "mv-nobucket", 1))
        fetched = origin.requests()
    assert state.is_failed()
    _, assets = db_state("mv-nobucket")
    assert all("StorageRejected" in a.last_error for a in assets.values())
    assert all(a.attempts == 1 for a in assets.values()), "a missing bucket is not retried"
    assert fetched == 2

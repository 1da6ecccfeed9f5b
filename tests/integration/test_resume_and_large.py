"""A run killed midway completes on re-run; large previews go up in multipart parts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from reelflow.adapters.db.schema import Asset
from reelflow.devtools.media import preview_webm
from reelflow.devtools.origin import Fault, Origin
from reelflow.services import reset, resources
from tests.support.movies import db_state, media, objects, run_import, serve_movie
from tests.support.s3_client import s3_client

pytestmark = pytest.mark.usefixtures("prefect_server")


def stored_count() -> int:
    with Session(resources.engine()) as session:
        return session.scalar(select(func.count()).where(Asset.status == "stored")) or 0


def test_killed_run_is_completed_by_the_next_one(env, tmp_path):
    with Origin() as origin:
        data = serve_movie(origin, "mv-killed", 6)
        # Slow the last episodes down so the kill lands mid-run.
        for n in range(3, 7):
            origin.add_faults(f"/mv-killed/{n}/thumb.jpg", Fault.latency(30))
        manifest = tmp_path / "manifest.json"
        manifest.write_text(json.dumps(data))
        child_env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
        child = subprocess.Popen(
            [sys.executable, "-m", "reelflow.cli.main", "import", str(manifest), "--json"],
            env=child_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 120
            while stored_count() < 4 and time.monotonic() < deadline:
                assert child.poll() is None, "the import finished before it could be killed"
                time.sleep(0.2)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(30)
        stored_before = stored_count()
        assert 4 <= stored_before < 12, "the kill must land mid-run"
        for n in range(3, 7):
            origin.add(f"/mv-killed/{n}/thumb.jpg", *_thumb(n))  # the origin recovers
        state, summary = run_import(data)
    assert state.is_completed(), state.message
    assert summary.skipped == stored_before
    assert summary.stored == 12 - stored_before
    # An object uploaded just before the kill, but not yet recorded, is found by its sha256
    # and not uploaded again: at most the unrecorded assets are uploaded.
    assert summary.uploaded <= 12 - stored_before
    episodes, assets = db_state("mv-killed")
    assert len(episodes) == 6 and len(assets) == 12
    assert all(a.status == "stored" for a in assets.values())
    assert len(objects("episode-")) == 6 * 3 + 6, "three rungs per thumbnail, and the previews"


def _thumb(n: int) -> tuple[bytes, str]:
    return media(n)[0], "image/jpeg"


def test_large_preview_is_uploaded_in_parts(env, monkeypatch):
    monkeypatch.setenv("REELFLOW_MULTIPART_THRESHOLD", str(5 * 2**20))
    monkeypatch.setenv("REELFLOW_MULTIPART_CHUNKSIZE", str(5 * 2**20))
    reset()
    big = preview_webm(seconds=0.5, seed=7) + os.urandom(11 * 2**20)  # a real WebM header
    with Origin() as origin:
        data = serve_movie(origin, "mv-big", 1)
        origin.add("/mv-big/1/preview.webm", big, "video/webm")
        state, _ = run_import(data)
    assert state.is_completed(), state.message
    key = "episode-previews/mv-big/ep1_preview.webm"
    s3 = s3_client()
    head = s3.head_object(Bucket=env["S3_BUCKET_NAME"], Key=key)
    assert head["ContentLength"] == len(big)
    assert head["ETag"].strip('"').endswith("-3"), "16 MiB in 5 MiB parts is a 3-part upload"
    body = s3.get_object(Bucket=env["S3_BUCKET_NAME"], Key=key)["Body"].read()
    assert body == big


def test_download_over_the_size_limit_is_refused(env, monkeypatch):
    monkeypatch.setenv("REELFLOW_MAX_VIDEO_BYTES", str(2**20))
    reset()
    with Origin() as origin:
        data = serve_movie(origin, "mv-huge", 1)
        origin.add(
            "/mv-huge/1/preview.webm", b"\x1a\x45\xdf\xa3" + b"0" * (3 * 2**20), "video/webm"
        )
        origin.add_faults("/mv-huge/1/thumb.jpg", Fault.endless())
        state, _ = run_import(data)
    assert state.is_failed()
    _, assets = db_state("mv-huge")
    assert "TooLarge" in assets[(1, "preview")].last_error
    assert "TooLarge" in assets[(1, "thumbnail")].last_error
    assert assets[(1, "preview")].attempts == 1
    assert Path(env["REELFLOW_SPOOL_DIR"]).exists()
    assert not any(Path(env["REELFLOW_SPOOL_DIR"]).rglob("*.src")), "partial downloads removed"

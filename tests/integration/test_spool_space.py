"""A full spool disk is an outage, not a verdict: a real small disk (tmpfs) as the spool.

ENOSPC in the middle of a download is retried and, when it persists, says which path and
which setting; a download waits for free space before it starts, and proceeds when other work
frees it. Mounting needs root (the test machines run the suite as root): without it the test
fails and says so.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reelflow.devtools.origin import Origin
from reelflow.services import reset
from tests.support.movies import db_state, run_import, serve_movie, webm

pytestmark = pytest.mark.usefixtures("prefect_server")


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        point = tmp_path / f"disk-{len(mounted)}"
        point.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            pytest.fail(f"this test needs a small disk: mount -t tmpfs failed: {done.stderr}")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], check=False)


def test_a_full_spool_is_retried_and_named(env, monkeypatch, small_disk):
    spool = small_disk("1m")
    monkeypatch.setenv("REELFLOW_SPOOL_DIR", str(spool))
    monkeypatch.setenv("REELFLOW_SPOOL_MIN_FREE_MB", "0")
    reset()
    with Origin() as origin:
        data = serve_movie(origin, "mv-full", 1, size=(320, 180))
        origin.add("/mv-full/1/preview.webm", webm(1) + bytes(3 * 2**20), "video/webm")
        state, summary = run_import(data)
        preview_requests = origin.requests("/mv-full/1/preview.webm")
    assert state.is_failed()
    _, assets = db_state("mv-full")
    assert assets[(1, "thumbnail")].status == "stored"  # the small asset fits
    failed = assets[(1, "preview")]
    assert failed.status == "failed"
    assert "LocalResourceExhausted" in failed.last_error
    assert f"no space left on the spool {spool}" in failed.last_error
    assert "REELFLOW_SPOOL_DIR" in failed.last_error
    # Transient: every attempt was made (REELFLOW_RETRIES=3 in the test settings).
    assert failed.attempts == 4 == preview_requests
    assert not list(spool.rglob("*.src")), "partial downloads are removed"


def test_a_download_waits_for_space_and_goes_on_when_it_is_freed(env, monkeypatch, small_disk):
    spool = small_disk("8m")
    ballast = spool / "ballast"
    ballast.write_bytes(bytes(7 * 2**20))
    monkeypatch.setenv("REELFLOW_SPOOL_DIR", str(spool))
    monkeypatch.setenv("REELFLOW_SPOOL_MIN_FREE_MB", "2")
    monkeypatch.setenv("REELFLOW_SPOOL_WAIT_SECONDS", "60")
    reset()
    with Origin() as origin:
        data = serve_movie(origin, "mv-wait", 2, size=(320, 180))
        freed: list[int] = []

        def free_space() -> None:
            time.sleep(2)
            freed.append(len(origin.log))  # requests made while the disk was short
            ballast.unlink()

        helper = threading.Thread(target=free_space)
        helper.start()
        state, summary = run_import(data)
        helper.join()
    assert state.is_completed(), state.message
    assert freed == [0], "no download may start while the spool is short"
    _, assets = db_state("mv-wait")
    assert {a.status for a in assets.values()} == {"stored"}
    assert {a.attempts for a in assets.values()} == {1}


def test_space_that_never_comes_fails_with_the_settings_named(env, monkeypatch, small_disk):
    spool = small_disk("4m")
    (spool / "ballast").write_bytes(bytes(3 * 2**20))
    monkeypatch.setenv("REELFLOW_SPOOL_DIR", str(spool))
    monkeypatch.setenv("REELFLOW_SPOOL_MIN_FREE_MB", "2")
    monkeypatch.setenv("REELFLOW_SPOOL_WAIT_SECONDS", "0.5")
    monkeypatch.setenv("REELFLOW_RETRIES", "1")
    reset()
    with Origin() as origin:
        state, _ = run_import(serve_movie(origin, "mv-short", 1, previews=False))
        assert origin.requests() == 0
    assert state.is_failed()
    _, assets = db_state("mv-short")
    error = assets[(1, "thumbnail")].last_error
    assert f"MB free on the spool {spool}" in error
    assert "REELFLOW_SPOOL_MIN_FREE_MB=2" in error and "REELFLOW_SPOOL_WAIT_SECONDS" in error
    assert assets[(1, "thumbnail")].attempts == 2  # retried once, like any outage

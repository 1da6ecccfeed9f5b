"""The HTTP API on the real stack (a `prefect server` process, a worker process, PostgreSQL,
moto over HTTP, a local origin): a client submits a manifest over HTTP, sees it queued, and
follows it to the end; the same manifest twice is one run, until the movie is deleted: then
the same manifest imports it again."""

from __future__ import annotations

import time

import httpx
import pytest

from reelflow.settings import reset_settings
from tests.support.api import READ, TOKENS, WRITE, auth, running_api
from tests.support.e2e import E2E_MEDIA
from tests.support.movies import serve_movie

pytestmark = pytest.mark.slow
MOVIE = "e2e-api-movie"


def test_a_client_submits_watches_and_reads_an_import_over_http(
    workers, stack_env, origin, monkeypatch
):
    monkeypatch.setenv("REELFLOW_API_TOKENS", TOKENS)
    reset_settings()
    manifest = serve_movie(origin, MOVIE, 3, **E2E_MEDIA)
    with running_api() as base, httpx.Client(base_url=base, timeout=30) as client:
        first = client.post("/api/v1/imports", json=manifest, headers=auth(WRITE))
        again = client.post("/api/v1/imports", json=manifest, headers=auth(WRITE))
        assert first.status_code == again.status_code == 202, first.text
        run_id = first.json()["run_id"]
        assert again.json()["run_id"] == run_id and again.json()["new"] is False
        assert first.headers["location"] == f"/api/v1/imports/{run_id}"

        # No worker yet: the run waits in the queue.
        queue = client.get("/api/v1/upload-queue/status", headers=auth(READ)).json()
        mine = [job for job in queue["jobs"] if job["id"] == run_id]
        assert mine == [{"id": run_id, "status": "queued", "retries": 0, "movie_id": MOVIE}]
        assert queue["queueLength"] >= 1 and isinstance(queue["processing"], int)

        workers.start("w-api")
        status = _finished(client, first.headers["location"])
        assert status["state_type"] == "COMPLETED", status
        assert status["counts"] == {"stored": 6}
        assert {(a["episode"], a["kind"], a["status"]) for a in status["assets"]} == {
            (n, kind, "stored") for n in (1, 2, 3) for kind in ("thumbnail", "preview")
        }
        media = client.get(f"/api/v1/movies/{MOVIE}/media", headers=auth(READ)).json()
        assert [e["episode"] for e in media["episodes"]] == [1, 2, 3]
        assert all(e["thumbnail_from"] == "stored" for e in media["episodes"])
        queue = client.get("/api/v1/upload-queue/status", headers=auth(READ)).json()
        assert run_id not in {job["id"] for job in queue["jobs"]}, "done: out of the queue"
        gone = client.get(
            "/api/v1/imports/00000000-0000-0000-0000-000000000000", headers=auth(READ)
        )
        assert gone.status_code == 404 and gone.json()["code"] == "not-found"

        # Deleted, then the same manifest again: a new run imports it (not the old run,
        # whose objects are gone); a double submit of it is still one run.
        deleted = client.delete(f"/api/v1/movies/{MOVIE}", headers=auth(WRITE))
        assert deleted.status_code == 202, deleted.text
        redo = client.post("/api/v1/imports", json=manifest, headers=auth(WRITE))
        redo_again = client.post("/api/v1/imports", json=manifest, headers=auth(WRITE))
        assert redo.status_code == 202 and redo.json()["new"] is True, redo.text
        assert redo.json()["run_id"] != run_id
        assert redo_again.json() == {**redo.json(), "new": False}
        status = _finished(client, redo.headers["location"])
        assert status["state_type"] == "COMPLETED" and status["counts"] == {"stored": 6}, status
        media = client.get(f"/api/v1/movies/{MOVIE}/media", headers=auth(READ)).json()
        assert all(e["thumbnail_from"] == "stored" for e in media["episodes"])
        later = client.post("/api/v1/imports", json=manifest, headers=auth(WRITE)).json()
        assert later["run_id"] == redo.json()["run_id"] and later["new"] is False


def _finished(client: httpx.Client, location: str) -> dict:
    deadline = time.monotonic() + 240
    while True:
        status = client.get(location, headers=auth(READ)).json()
        if status["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return status
        assert time.monotonic() < deadline, status
        time.sleep(1)

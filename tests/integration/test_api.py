"""The HTTP API against the real services (PostgreSQL, Redis, moto over HTTP, a local origin,
Prefect's test server) under a real uvicorn: the auth matrix, every read and delete endpoint,
problem details, the limits. Submitting imports to a deployment is in tests/e2e/test_api.py."""

from __future__ import annotations

import httpx
import pytest

from reelflow.devtools.origin import Origin
from reelflow.settings import reset_settings
from tests.support.api import READ, TOKENS, WRITE, auth, running_api
from tests.support.movies import objects, run_import, serve_movie

pytestmark = pytest.mark.usefixtures("prefect_server")

ENDPOINTS = [
    ("GET", "/healthz", "read"),
    ("GET", "/readyz", "read"),
    ("GET", "/api/v1/upload-queue/status", "read"),
    ("GET", "/api/v1/movies/mv-api/media", "read"),
    ("GET", "/api/v1/imports/00000000-0000-0000-0000-000000000000", "read"),
    ("POST", "/api/v1/imports", "write"),
    ("DELETE", "/api/v1/movies/mv-none", "write"),
]


@pytest.fixture()
def api(env, redis_env, monkeypatch):
    monkeypatch.setenv("REELFLOW_API_TOKENS", TOKENS)
    reset_settings()
    with running_api() as base:
        yield base


@pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS)
def test_every_endpoint_needs_a_token_with_its_scope(api, method, path, scope):
    with httpx.Client(base_url=api) as client:
        none = client.request(method, path)
        wrong = client.request(method, path, headers=auth("x" * 24))
        reader = client.request(method, path, headers=auth(READ), json={"movie_id": "m"})
    for answer in (none, wrong):
        assert answer.status_code == 401
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert answer.json()["code"] == "unauthorized"
    if scope == "write":
        assert reader.status_code == 403 and reader.json()["code"] == "forbidden"
    else:
        assert reader.status_code not in (401, 403)


def test_the_media_of_a_movie_page_by_page(api):
    with Origin() as origin:
        state, _ = run_import(serve_movie(origin, "mv-api", 5))
    assert state.is_completed(), state.message
    with httpx.Client(base_url=api, headers=auth(READ)) as client:
        first = client.get("/api/v1/movies/mv-api/media", params={"limit": 2})
        second = client.get("/api/v1/movies/mv-api/media", params={"limit": 2, "offset": 4})
        over = client.get("/api/v1/movies/mv-api/media", params={"limit": 101})
        missing = client.get("/api/v1/movies/mv-nobody/media")
        bad_id = client.get("/api/v1/movies/a%20b/media")
    assert first.status_code == 200
    page = first.json()
    assert [e["episode"] for e in page["episodes"]] == [1, 2] and page["next_offset"] == 2
    episode = page["episodes"][0]
    assert [r["rung"] for r in episode["renditions"]] == ["large", "medium", "small"]
    assert all("X-Amz-Signature=" in r["url"] for r in episode["renditions"])
    assert episode["placeholder"]["thumbhash"] and episode["preview"]["content_type"]
    assert [e["episode"] for e in second.json()["episodes"]] == [5]
    assert second.json()["next_offset"] is None
    assert over.status_code == 422 and "page-size cap" in over.json()["detail"]
    assert missing.status_code == 404 and missing.json()["code"] == "not-found"
    assert bad_id.status_code == 422


def test_delete_answers_202_then_404(api):
    with Origin() as origin:
        run_import(serve_movie(origin, "mv-del-api", 2))
    keys = {k for k in objects() if "/mv-del-api/" in k}
    assert len(keys) == 2 * 4
    with httpx.Client(base_url=api, headers=auth(WRITE)) as client:
        first = client.delete("/api/v1/movies/mv-del-api")
        second = client.delete("/api/v1/movies/mv-del-api")
    assert first.status_code == 202, first.text
    body = first.json()
    # No deployment here (Prefect's test server has no workers): the keys wait in the queue.
    assert (body["objects"], body["handoff"], body["purge_run_id"]) == (8, "queued", None)
    assert second.status_code == 404 and second.json()["code"] == "not-found"


def test_readiness_reports_redis_degraded_and_s3_down(api, monkeypatch):
    with httpx.Client(base_url=api, headers=auth(READ)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"] == {
            "database": "ok",
            "s3": "ok",
            "redis": "ok",
        }
        monkeypatch.setenv("REDIS_PORT", "1")  # nothing listens there
        reset_settings()
        degraded = client.get("/readyz")
        assert degraded.status_code == 200 and degraded.json()["checks"]["redis"] == "degraded"
        monkeypatch.setenv("S3_ENDPOINT", "http://127.0.0.1:1")
        reset_settings()
        from reelflow.services import reset

        reset()
        down = client.get("/readyz")
    assert down.status_code == 503 and down.json()["checks"]["s3"] == "down"


def test_bodies_over_the_limit_are_refused_before_they_are_read(api):
    def chunks():
        for _ in range(20):
            yield b"x" * 2**20  # 20 MB, chunked: no Content-Length

    with httpx.Client(base_url=api, headers=auth(WRITE)) as client:
        chunked = client.post("/api/v1/imports", content=chunks())
        declared = (
            client.post(
                "/api/v1/imports", content=b"{}", headers={"Content-Length": str(17 * 2**20)}
            )
            if False
            else client.post("/api/v1/imports", content=b"y" * (17 * 2**20))
        )
    for answer in (chunked, declared):
        assert answer.status_code == 413 and answer.json()["code"] == "too-large"


def test_an_invalid_manifest_is_a_problem_naming_the_field(api):
    with httpx.Client(base_url=api, headers=auth(WRITE)) as client:
        answer = client.post(
            "/api/v1/imports",
            json={"movie_id": "m1", "episodes": [{"number": "5", "video_url": "file:///etc"}]},
        )
    assert answer.status_code == 422
    problem = answer.json()
    assert problem["type"] == "/problems/invalid-request" and problem["status"] == 422
    wheres = {e["where"] for e in problem["errors"]}
    assert "body.episodes.0.number" in wheres and "body.episodes.0.video_url" in wheres
    assert "Traceback" not in answer.text


def test_serve_refuses_to_start_without_a_token(env, monkeypatch, tmp_path):
    import subprocess
    import sys

    monkeypatch.delenv("REELFLOW_API_TOKENS", raising=False)
    done = subprocess.run(
        [sys.executable, "-m", "reelflow.cli.main", "serve"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "no API token is configured" in done.stderr and "Traceback" not in done.stderr
    exposed = subprocess.run(
        [
            sys.executable,
            "-m",
            "reelflow.cli.main",
            "serve",
            "--insecure-local",
            "--host",
            "0.0.0.0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert exposed.returncode == 2 and "loopback addresses only" in exposed.stderr

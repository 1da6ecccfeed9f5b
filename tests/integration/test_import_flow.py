"""The import flow end to end: PostgreSQL, moto's S3 over HTTP, a misbehaving local origin,
and a Prefect test server."""

from __future__ import annotations

import io
import re
import time

import pytest
from PIL import Image

from reelflow.devtools.origin import Fault, Origin
from reelflow.services import reset
from reelflow.settings import get_settings
from tests.support.movies import db_state, media, objects, run_import, serve_movie
from tests.support.s3_client import s3_client

pytestmark = pytest.mark.usefixtures("prefect_server")


def test_import_stores_every_asset_privately_with_metadata(env, task_runner):
    with Origin() as origin:
        state, summary = run_import(serve_movie(origin, "mv-ok", 3))
    assert state.is_completed(), state.message
    assert (summary.stored, summary.failed, summary.uploaded) == (6, 0, 6)

    episodes, assets = db_state("mv-ok")
    bucket = env["S3_BUCKET_NAME"]
    for ep in episodes:
        large = assets[(ep.number, "thumbnail")].key
        assert re.fullmatch(
            rf"episode-thumbnails/mv-ok/ep{ep.number}_thumb-large-[0-9a-f]{{10}}\.webp", large
        )
        assert ep.thumbnail_url == f"s3://{bucket}/{large}"
        assert (
            ep.video_preview_url
            == f"s3://{bucket}/episode-previews/mv-ok/ep{ep.number}_preview.webm"
        )
        assert ep.thumbnail_source_url.endswith("?sig=secret-token")

    s3 = s3_client()
    thumb = assets[(1, "thumbnail")]
    assert (thumb.status, thumb.attempts, thumb.width, thumb.height) == ("stored", 1, 1280, 720)
    assert thumb.bytes < thumb.source_bytes == len(media(1)[0])
    head = s3.head_object(Bucket=bucket, Key=thumb.key)
    assert head["ContentType"] == "image/webp"
    assert "max-age=31536000" in head["CacheControl"]
    assert head["Metadata"]["sha256"] == thumb.sha256
    body = s3.get_object(Bucket=bucket, Key=thumb.key)["Body"].read()
    assert Image.open(io.BytesIO(body)).size == (1280, 720)
    preview = assets[(1, "preview")]
    assert s3.get_object(Bucket=bucket, Key=preview.key)["Body"].read() == media(1)[1]
    assert s3.head_object(Bucket=bucket, Key=preview.key)["ContentType"] == "video/webm"
    grants = s3.get_object_acl(Bucket=bucket, Key=thumb.key)["Grants"]
    assert all("URI" not in g["Grantee"] for g in grants), "objects must not be public"


def test_second_run_downloads_and_uploads_nothing(env, task_runner):
    with Origin() as origin:
        data = serve_movie(origin, "mv-twice", 3)
        _, first = run_import(data)
        before = {k: o["LastModified"] for k, o in objects().items()}
        origin.reset_log()
        state, second = run_import(data)
        assert origin.requests() == 0, "stored assets are verified by sha256 in S3, not re-fetched"
    assert state.is_completed()
    assert (first.uploaded, second.uploaded, second.skipped) == (6, 0, 6)
    assert {k: o["LastModified"] for k, o in objects().items()} == before
    episodes, assets = db_state("mv-twice")
    assert len(episodes) == 3 and len(assets) == 6


def test_new_url_with_same_bytes_is_fetched_but_not_uploaded_again(env):
    with Origin() as origin:
        data = serve_movie(origin, "mv-moved", 2)
        run_import(data)
        for ep in data["episodes"]:
            ep["thumbnail_url"] = ep["thumbnail_url"].replace("?sig=secret-token", "?sig=rotated")
        state, summary = run_import(data)
    assert state.is_completed()
    assert (summary.stored, summary.uploaded, summary.skipped) == (2, 0, 2)


def test_deleted_object_is_uploaded_again(env):
    with Origin() as origin:
        data = serve_movie(origin, "mv-lost", 1)
        run_import(data)
        key = db_state("mv-lost")[1][(1, "thumbnail")].key
        s3_client().delete_object(Bucket=env["S3_BUCKET_NAME"], Key=key)
        state, summary = run_import(data)
    assert state.is_completed()
    assert summary.uploaded == 1 and key in objects()


def test_partial_failure_keeps_temporary_urls_and_other_assets_carry_on(env, task_runner):
    faults = {
        (2, "thumbnail"): [Fault.status(404, times=None)],
        (3, "preview"): [Fault.status(500, times=None)],
    }
    with Origin() as origin:
        data = serve_movie(origin, "mv-partial", 3, faults)
        state, summary = run_import(data)
        thumb2 = origin.requests("/mv-partial/2/thumb.jpg")
        preview3 = origin.requests("/mv-partial/3/preview.webm")
    assert state.is_failed() and state.name == "Partial"
    assert "4 stored" in state.message and "2 failed" in state.message
    assert (summary.stored, summary.failed) == (4, 2)
    assert thumb2 == 1, "a 404 is terminal: never retried"
    assert preview3 == 1 + get_settings().retries, "a 500 is retried, then given up"

    episodes, assets = db_state("mv-partial")
    by_number = {e.number: e for e in episodes}
    assert by_number[2].thumbnail_url == data["episodes"][1]["thumbnail_url"]
    assert by_number[3].video_preview_url == data["episodes"][2]["video_preview_url"]
    assert by_number[2].video_preview_url.startswith("s3://")
    failed = assets[(2, "thumbnail")]
    assert failed.status == "failed" and "404" in failed.last_error and failed.attempts == 1
    assert "secret-token" not in failed.last_error, "query strings (tokens) never reach the DB"
    assert assets[(3, "preview")].attempts == 4 and "500" in assets[(3, "preview")].last_error
    assert not objects("episode-thumbnails/mv-partial/ep2_thumb")


def test_transient_errors_are_retried_until_success(env, task_runner):
    faults = {
        (1, "thumbnail"): [Fault.status(503, times=2)],
        (1, "preview"): [Fault.reset(times=1), Fault.truncate(times=1)],
    }
    with Origin() as origin:
        state, summary = run_import(serve_movie(origin, "mv-flaky", 1, faults))
        counts = (
            origin.requests("/mv-flaky/1/thumb.jpg"),
            origin.requests("/mv-flaky/1/preview.webm"),
        )
    assert state.is_completed(), state.message
    assert counts == (3, 3)
    _, assets = db_state("mv-flaky")
    assert assets[(1, "thumbnail")].attempts == 3 and assets[(1, "preview")].attempts == 3
    assert summary.stored == 2


def test_retry_after_is_honoured(env):
    faults = {(1, "thumbnail"): [Fault.throttle(retry_after="1", times=1)]}
    with Origin() as origin:
        data = serve_movie(origin, "mv-429", 1, faults)
        started = time.monotonic()
        state, _ = run_import(data)
        elapsed = time.monotonic() - started
        assert origin.requests("/mv-429/1/thumb.jpg") == 2
    assert state.is_completed()
    # The backoff alone is 0.05 s here; waiting at least the origin's 1 s proves Retry-After won.
    assert elapsed >= 1.0


def test_bad_media_is_terminal_and_does_not_stop_the_rest(env, task_runner):
    with Origin() as origin:
        data = serve_movie(origin, "mv-bad", 2)
        origin.add("/mv-bad/1/thumb.jpg", b"<html>expired link</html>", "text/html")
        origin.add("/mv-bad/2/preview.webm", b"\x89PNG\r\n\x1a\n" + b"0" * 100, "video/webm")
        state, summary = run_import(data)
        assert origin.requests("/mv-bad/1/thumb.jpg") == 1
    assert state.is_failed()
    _, assets = db_state("mv-bad")
    assert assets[(1, "thumbnail")].status == "failed"
    assert "UnsupportedMedia" in assets[(1, "thumbnail")].last_error
    assert assets[(2, "preview")].status == "failed"
    assert summary.stored == 2


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "127.1",
        "0x7f000001",
        "2130706433",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "127.000.000.001",
        "0.0.0.0",
        "LOCALHOST.",
    ],
)
def test_loopback_in_any_spelling_is_never_requested_by_default(env, monkeypatch, host):
    monkeypatch.setenv("REELFLOW_FETCH_ALLOW", "")
    reset()
    with Origin() as origin:
        origin.add("/x.jpg", media(1)[0], "image/jpeg")
        url = f"http://{host}:{origin.port}/x.jpg"
        state, summary = run_import(
            {"movie_id": "mv-ssrf", "episodes": [{"number": 1, "thumbnail_url": url}]}
        )
        assert origin.requests() == 0 and origin.connections == 0
    assert state.is_failed()
    assert summary.failed == 1
    _, assets = db_state("mv-ssrf")
    assert assets[(1, "thumbnail")].attempts == 1, "a blocked URL is terminal"
    assert "BlockedURL" in assets[(1, "thumbnail")].last_error


def test_redirect_to_metadata_address_is_blocked(env, task_runner):
    faults = {(1, "thumbnail"): [Fault.redirect("http://169.254.169.254/latest/meta-data/")]}
    with Origin() as origin:
        state, _ = run_import(serve_movie(origin, "mv-redirect", 1, faults))
    _, assets = db_state("mv-redirect")
    assert state.is_failed()
    assert "BlockedURL" in assets[(1, "thumbnail")].last_error
    assert assets[(1, "thumbnail")].attempts == 1

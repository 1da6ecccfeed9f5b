"""verify: reconcile the database with the bucket. A real import stores a movie; objects are
then deleted or overwritten behind reelflow's back in moto's S3 (over HTTP); verify finds them
(a dry run changes nothing), marks them with --execute, and a backfill imports them again so
presigned URLs work again. PostgreSQL, the local origin, a Prefect test server."""

from __future__ import annotations

import json
import os

import httpx
import pytest
from typer.testing import CliRunner

from flows.backfill import backfill
from flows.verify import verify
from reelflow.cli.main import app
from reelflow.devtools.origin import Origin
from reelflow.services.urls import asset_urls
from reelflow.settings import get_settings
from tests.support.movies import db_state, objects, run_import, serve_movie
from tests.support.s3_client import s3_client

pytestmark = pytest.mark.usefixtures("prefect_server")

runner = CliRunner()


def run_verify(**params):
    state = verify(return_state=True, **params)
    return state, state.result(raise_on_failure=False)


def snapshot(movie_id: str):
    episodes, assets = db_state(movie_id)
    rows = {k: (a.status, a.last_error, a.updated_at) for k, a in assets.items()}
    urls = [(e.thumbnail_url, e.video_preview_url) for e in episodes]
    return rows, urls


def damage(assets) -> dict[tuple[int, str], str]:
    """Behind reelflow's back: delete one object, truncate one, overwrite one with other bytes
    of the same size (and a sha256 that is not the recorded one). Returns the keys by asset."""
    s3 = s3_client()
    bucket = get_settings().s3_bucket_name
    keys = {k: a.key for k, a in assets.items()}
    s3.delete_object(Bucket=bucket, Key=keys[(1, "thumbnail")])
    s3.put_object(Bucket=bucket, Key=keys[(2, "preview")], Body=b"short")
    same_size = b"x" * assets[(3, "thumbnail")].bytes
    s3.put_object(
        Bucket=bucket, Key=keys[(3, "thumbnail")], Body=same_size, Metadata={"sha256": "0" * 64}
    )
    return keys


DAMAGED = {(1, "thumbnail"): "missing", (2, "preview"): "size", (3, "thumbnail"): "sha256"}


def test_verify_finds_marks_and_backfill_repairs(env):
    with Origin() as origin:
        data = serve_movie(origin, "mv-ver", 4)
        state, imported = run_import(data)
        assert state.is_completed() and imported.stored == 8
        damage(db_state("mv-ver")[1])
        before = snapshot("mv-ver")

        state, dry = run_verify()
        assert state.is_completed() and dry.dry_run
        assert (dry.stored, dry.checked, dry.intact) == (8, 8, 5)
        assert (dry.missing, dry.size, dry.sha256_mismatch, dry.marked) == (1, 1, 1, 0)
        assert {(line.episode, line.kind): line.status for line in dry.lines} == DAMAGED
        assert snapshot("mv-ver") == before, "a dry run changes nothing"
        assert dry.listings == 2, "one listing per prefix range of the batch, not a HEAD each"
        assert dry.heads == 6, "HEAD only what the listing found with the right size"

        state, sized = run_verify(size_only=True)
        assert (sized.missing, sized.size, sized.sha256_mismatch, sized.heads) == (1, 1, 0, 0)

        state, done = run_verify(execute=True)
        assert state.is_completed() and done.marked == 3
        episodes, assets = db_state("mv-ver")
        for key, problem in DAMAGED.items():
            assert (
                assets[key].status == "failed"
                and problem in assets[key].last_error
                or (problem == "size" and "bytes" in assets[key].last_error)
            )
        assert {k for k, a in assets.items() if a.status == "stored"} == set(assets) - set(DAMAGED)
        source = {(ep["number"], "thumbnail"): ep["thumbnail_url"] for ep in data["episodes"]}
        source |= {(ep["number"], "preview"): ep["video_preview_url"] for ep in data["episodes"]}
        shown = {(e.number, "thumbnail"): e.thumbnail_url for e in episodes}
        shown |= {(e.number, "preview"): e.video_preview_url for e in episodes}
        for key in DAMAGED:
            assert shown[key] == source[key], "the episode is back on its temporary URL"
        assert all(shown[k].startswith("s3://") for k in set(shown) - set(DAMAGED))

        origin.reset_log()
        state, repaired = backfill(return_state=True), None
        repaired = state.result(raise_on_failure=False)
        assert state.is_completed(), state.message
        assert (repaired.stored, repaired.uploaded) == (3, 3)
        assert origin.requests() == 3, "only the damaged assets are fetched again"

    state, after = run_verify()
    assert (after.checked, after.intact, after.problems) == (8, 8, 0)
    episodes, _ = db_state("mv-ver")
    urls = [u for e in episodes for u in (e.thumbnail_url, e.video_preview_url)]
    assert all(u.startswith("s3://") for u in urls)
    signed = asset_urls(urls)
    stored = objects()
    for url in urls:
        response = httpx.get(signed[url], timeout=10, trust_env=False)
        assert response.status_code == 200, url
        key = url.split("/", 3)[3]
        assert len(response.content) == stored[key]["Size"]


def test_verify_batches_limit_and_movie_scope(env):
    with Origin() as origin:
        for movie in ("mv-a", "mv-b", "mv-c"):
            run_import(serve_movie(origin, movie, 3))
    s3 = s3_client()
    bucket = get_settings().s3_bucket_name
    for movie in ("mv-a", "mv-c"):  # delete every object of two movies
        for key in objects(f"episode-thumbnails/{movie}/"):
            s3.delete_object(Bucket=bucket, Key=key)

    state, batched = run_verify(batch_size=4)  # movies and prefixes straddle batches
    assert (batched.checked, batched.missing, batched.batches) == (18, 6, 5)
    assert batched.listings == 6, "one request per batch and prefix it spans (batch 3: two)"
    assert {(line.movie_id, line.kind) for line in batched.lines} == {
        ("mv-a", "thumbnail"),
        ("mv-c", "thumbnail"),
    }

    state, one = run_verify(movie_id="mv-b")
    assert (one.stored, one.checked, one.problems) == (6, 6, 0)
    state, limited = run_verify(limit=5)
    assert limited.checked == 5


def test_cli_verify(env):
    with Origin() as origin:
        run_import(serve_movie(origin, "mv-cli-v", 2))
    s3 = s3_client()
    bucket = get_settings().s3_bucket_name
    key = next(iter(objects("episode-previews/mv-cli-v/")))
    s3.delete_object(Bucket=bucket, Key=key)

    dry = runner.invoke(app, ["verify", "--json"])
    assert dry.exit_code == 0, dry.output
    data = json.loads(dry.stdout[dry.stdout.index("{") :])
    assert data["dry_run"] and data["missing"] == 1 and data["marked"] == 0
    done = runner.invoke(app, ["verify", "--execute", "--movie", "mv-cli-v"])
    assert done.exit_code == 0, done.output
    assert "marked 1 assets for backfill" in done.stdout and "mv-cli-v" in done.stdout
    for args, message in [
        (["--movie", "no-such-movie"], "movie 'no-such-movie' does not exist"),
        (["--movie", "../etc"], "not allowed in a key"),
        (["--limit", "0"], "greater than or equal to 1"),
    ]:
        result = runner.invoke(app, ["verify", *args])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output and "Traceback" not in result.output


def test_the_stack_hook_marks_what_local_s3_lost(env):
    from rich.console import Console

    from reelflow.devtools.reconcile import verify_after_start

    with Origin() as origin:
        run_import(serve_movie(origin, "mv-hook", 1))
    s3 = s3_client()
    bucket = get_settings().s3_bucket_name
    for key in objects():  # the local S3 endpoint restarted empty
        s3.delete_object(Bucket=bucket, Key=key)
    console = Console(record=True, width=200)
    from prefect.settings import PREFECT_API_URL

    report = verify_after_start(
        console, {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    )
    assert report is not None and (report.missing, report.marked) == (2, 2)
    assert "marked 2 for backfill" in console.export_text()
    assert {a.status for a in db_state("mv-hook")[1].values()} == {"failed"}

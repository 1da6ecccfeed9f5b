"""The presign-warmup flow and the `reelflow urls` / `reelflow warmup` commands, end to end:
PostgreSQL, moto's S3 over HTTP, a real Redis, a local origin and a Prefect test server."""

from __future__ import annotations

import json
import re

import httpx
import pytest
import redis
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from typer.testing import CliRunner

from flows.presign_warmup import WarmupRequest, presign_warmup
from reelflow.adapters.db import catalog
from reelflow.cli.main import app
from reelflow.core.sigv4 import query_params
from reelflow.devtools.origin import Fault, Origin
from reelflow.services import reset, resources, urls
from tests.support.movies import db_state, run_import, serve_movie

pytestmark = pytest.mark.usefixtures("prefect_server")


def import_movie(origin: Origin, movie_id: str, episodes: int, seed: int = 0, faults=None):
    """Import a movie of small media (320x180 thumbnails, 0.2 s previews) with no tokens in its
    URLs; another `seed` serves other bytes. faults: {(n, kind): [Fault, ...]}."""
    data = serve_movie(
        origin,
        movie_id,
        episodes,
        faults,
        size=(320, 180),
        preview_seconds=0.2,
        seed=seed,
        token=None,
    )
    return run_import(data)[1]


def cached_names(redis_env) -> set[str]:
    """The URL cache's entries under the test's prefix (runs' live event streams, `events:`,
    share the prefix and are not cache entries)."""
    client = redis.Redis.from_url(redis_env["url"], decode_responses=True)
    try:
        prefix = redis_env["REELFLOW_REDIS_KEY_PREFIX"]
        names = {name.removeprefix(prefix) for name in client.scan_iter(match=f"{prefix}*")}
        return {name for name in names if not name.startswith("events:")}
    finally:
        client.close()


def latest_artifact(key: str):
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])), limit=1
        )
    return found[0] if found else None


@pytest.fixture()
def movies(env, redis_env):
    """Two imported movies: mv-old (2 episodes), then mv-new (3 episodes, ep3's preview lost)."""
    with Origin() as origin:
        import_movie(origin, "mv-old", 2)
        lost = {(3, "preview"): [Fault.status(404, times=None)]}
        summary = import_movie(origin, "mv-new", 3, faults=lost)
    assert (summary.stored, summary.failed) == (5, 1)
    urls.reset()  # the app's processes start with an empty memory tier
    return env


def test_recent_stored_urls_newest_movie_first(movies):
    found = catalog.recent_stored_urls(resources.engine(), 5)
    bucket = movies["S3_BUCKET_NAME"]
    rungs = catalog.movie_renditions(resources.engine(), "mv-new", ["large", "medium", "small"])
    key = {(n, r[0]): r[3] for n, thumb in rungs.items() for r in thumb["renditions"]}
    # Per episode: the thumbnail (its large rendition), the preview, the smaller renditions.
    assert found[:11] == [
        f"s3://{bucket}/{key[(1, 'large')]}",
        f"s3://{bucket}/episode-previews/mv-new/ep1_preview.webm",
        f"s3://{bucket}/{key[(1, 'medium')]}",
        f"s3://{bucket}/{key[(1, 'small')]}",
        f"s3://{bucket}/{key[(2, 'large')]}",
        f"s3://{bucket}/episode-previews/mv-new/ep2_preview.webm",
        f"s3://{bucket}/{key[(2, 'medium')]}",
        f"s3://{bucket}/{key[(2, 'small')]}",
        f"s3://{bucket}/{key[(3, 'large')]}",  # its preview is temporary
        f"s3://{bucket}/{key[(3, 'medium')]}",
        f"s3://{bucket}/{key[(3, 'small')]}",
    ]
    assert len(found) == 11 + 2 * 4
    assert catalog.recent_stored_urls(resources.engine(), 1) == found[:11]


def test_warmup_signs_then_finds_them_cached_and_the_app_gets_redis_hits(movies, redis_env):
    report = presign_warmup(WarmupRequest(top=1, batch_size=2))
    assert (report.urls, report.signed, report.cached, report.batches) == (11, 11, 0, 6)
    assert report.mode == "redis" and report.top_movies == 1
    names = cached_names(redis_env)
    assert len(names) == 11 and all("/mv-new/" in name for name in names)

    artifact = latest_artifact("presign-warmup")
    assert artifact is not None and "| 1 | 11 | 11 | 0 | 6 |" in artifact.data

    again = presign_warmup(WarmupRequest(top=1))
    assert (again.urls, again.signed, again.cached, again.batches) == (11, 0, 11, 1)

    urls.reset()  # an app process: nothing in memory, everything in Redis
    stored = catalog.recent_stored_urls(resources.engine(), 1)
    page = urls.resolver().resolve(stored)
    assert (page.redis_hits, page.signed) == (11, 0)


def test_warmup_default_top_comes_from_settings(movies, monkeypatch):
    monkeypatch.setenv("REELFLOW_WARMUP_TOP_MOVIES", "2")
    reset()
    report = presign_warmup()
    assert (report.top_movies, report.urls, report.signed) == (2, 19, 19)


def test_reimport_with_new_bytes_invalidates_cached_urls(movies, redis_env):
    presign_warmup(WarmupRequest(top=2))
    before = {e.number: e.thumbnail_url for e in db_state("mv-old")[0]}
    old_urls = urls.asset_urls([before[1]])
    assert len(cached_names(redis_env)) == 19
    with Origin() as origin:
        summary = import_movie(origin, "mv-old", 2, seed=7)  # different bytes: replaced
    assert summary.uploaded == 4
    after = {e.number: e.thumbnail_url for e in db_state("mv-old")[0]}
    # A thumbnail's key carries a content version: new bytes, new key, new URL.
    assert all(after[n] != before[n] for n in (1, 2))
    assert urls.asset_urls([after[1]])[after[1]] != old_urls[before[1]]
    # The previews keep their keys: their cached URLs were dropped with the new bytes.
    left = cached_names(redis_env)
    assert not any("episode-previews/mv-old/" in name for name in left)


def test_cli_urls_json_gives_working_urls_and_passes_temporary_ones(movies):
    result = CliRunner().invoke(app, ["urls", "mv-new", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["movie_id"] == "mv-new"
    episodes = {e["episode"]: e for e in data["episodes"]}
    assert sorted(episodes) == [1, 2, 3]
    thumb = episodes[1]["thumbnail_url"]
    assert re.search(r"/episode-thumbnails/mv-new/ep1_thumb-large-[0-9a-f]{10}\.webp\?", thumb)
    assert query_params(thumb)["X-Amz-Expires"] == "3600"
    response = httpx.get(thumb, timeout=10, trust_env=False)
    assert response.status_code == 200 and response.content[:4] == b"RIFF"
    assert episodes[3]["preview_from"] == "temporary"
    assert episodes[3]["video_preview_url"].startswith("http://127.0.0.1:")
    assert "X-Amz-Signature" not in episodes[3]["video_preview_url"]

    again = json.loads(CliRunner().invoke(app, ["urls", "mv-new", "--json"]).stdout)
    assert again == data, "the same URLs while they are cached"


def test_cli_urls_table(movies):
    result = CliRunner().invoke(app, ["urls", "mv-new"])
    assert result.exit_code == 0, result.output
    assert "movie mv-new" in result.output
    assert result.output.count("stored") == 5 and result.output.count("temporary") == 1
    assert "X-Amz-" in result.output


def test_cli_urls_unknown_movie_is_one_line_and_exit_2(movies):
    result = CliRunner().invoke(app, ["urls", "no-such-movie"])
    assert result.exit_code == 2, "an unknown movie is bad input"
    assert "no episodes" in result.output and len(result.output.strip().splitlines()) == 1


def test_cli_warmup(movies, redis_env):
    result = CliRunner().invoke(app, ["warmup", "--top", "1", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert (report["urls"], report["signed"], report["batches"]) == (11, 11, 1)
    assert len(cached_names(redis_env)) == 11

"""The ladder end to end: every rung of every thumbnail in S3 and in the renditions table,
recorded only after its upload, nothing made twice, only changed rungs made again, and
`backfill --renditions` filling what older imports lack from the stored large object."""

from __future__ import annotations

import base64
import io
import re
import threading

import pytest
from PIL import Image
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from reelflow.adapters.db.schema import Asset, Episode, PurgeItem, RenditionRow
from reelflow.core.keys import rendition_key
from reelflow.core.ladder import content_version
from reelflow.devtools.origin import Origin
from reelflow.services import reset, resources
from reelflow.settings import get_settings, reset_settings
from tests.support.movies import db_state, objects, run_import, serve_movie
from tests.support.s3_client import s3_client
from tests.support.s3_faults import FlakyS3

pytestmark = pytest.mark.usefixtures("prefect_server")

BOXES = {"large": (1280, 720), "medium": (640, 360), "small": (320, 180)}


def renditions(movie_id: str) -> dict[tuple[int, str], RenditionRow]:
    with Session(resources.engine()) as session:
        rows = session.execute(
            select(RenditionRow, Episode.number)
            .join(Asset, Asset.id == RenditionRow.asset_id)
            .join(Episode, Episode.id == Asset.episode_id)
            .where(Episode.movie_id == movie_id)
        ).all()
        session.expunge_all()
    found: dict[tuple[int, str], RenditionRow] = {}
    for rendition, number in rows:
        assert (number, rendition.rung) not in found, "one row per rung and format"
        found[(number, rendition.rung)] = rendition
    return found


def backfill_renditions(**kwargs):
    from flows.backfill import backfill

    state = backfill(renditions=True, return_state=True, **kwargs)
    return state, state.result(raise_on_failure=False)


def test_import_stores_every_rung_and_a_placeholder(env):
    with Origin() as origin:
        state, summary = run_import(serve_movie(origin, "mv-ladder", 2, previews=False))
    assert state.is_completed(), state.message
    assert (summary.stored, summary.failed) == (2, 0)

    episodes, assets = db_state("mv-ladder")
    rows = renditions("mv-ladder")
    assert set(rows) == {(n, rung) for n in (1, 2) for rung in BOXES}
    s3 = s3_client()
    bucket = env["S3_BUCKET_NAME"]
    digests = get_settings().image_ladder().digests()
    for (number, rung), row in rows.items():
        asset = assets[(number, "thumbnail")]
        assert (row.format, row.bucket, row.spec_digest) == (
            "webp",
            bucket,
            digests[(rung, "webp")],
        )
        version = content_version(asset.source_sha256, row.spec_digest)
        assert row.key == rendition_key("mv-ladder", number, rung, version, "webp")
        assert (row.width, row.height) == BOXES[rung], "1600x900 fits each box exactly"
        body = s3.get_object(Bucket=bucket, Key=row.key)["Body"].read()
        assert len(body) == row.bytes
        head = s3.head_object(Bucket=bucket, Key=row.key)
        assert head["ContentType"] == "image/webp" and head["Metadata"]["sha256"] == row.sha256
        assert Image.open(io.BytesIO(body)).size == BOXES[rung]
    for episode in episodes:
        asset = assets[(episode.number, "thumbnail")]
        large = rows[(episode.number, "large")]
        assert asset.key == large.key and episode.thumbnail_url == f"s3://{bucket}/{large.key}"
        assert re.fullmatch(r"#[0-9a-f]{6}", asset.dominant_color or "")
        assert asset.thumbhash and len(asset.thumbhash) <= 64
        assert len(base64.b64decode(asset.thumbhash + "=" * (-len(asset.thumbhash) % 4))) >= 5


def test_nothing_is_made_twice_and_a_changed_rung_alone_is_made_again(env, monkeypatch):
    with Origin() as origin:
        data = serve_movie(origin, "mv-again", 2, previews=False)
        run_import(data)
        first = renditions("mv-again")
        before = {k: o["LastModified"] for k, o in objects().items()}
        origin.reset_log()
        state, second = run_import(data)
        assert origin.requests() == 0, "every rung is current: the source is not fetched"
        assert state.is_completed() and (second.uploaded, second.skipped) == (0, 2)
        assert {k: o["LastModified"] for k, o in objects().items()} == before
        assert {k: (r.id, r.key) for k, r in renditions("mv-again").items()} == {
            k: (r.id, r.key) for k, r in first.items()
        }

        monkeypatch.setenv(
            "REELFLOW_LADDER", "large:1280x720@85,medium:640x360@60,small:320x180@80"
        )
        reset_settings()
        state, third = run_import(data)
    assert state.is_completed(), state.message
    after = renditions("mv-again")
    for (number, rung), row in after.items():
        old = first[(number, rung)]
        if rung == "medium":
            assert row.key != old.key and row.spec_digest != old.spec_digest
            assert row.bytes < old.bytes, "quality 60 makes smaller files"
        else:
            assert (row.key, row.sha256, row.updated_at) == (old.key, old.sha256, old.updated_at)
    new_keys = set(objects()) - set(before)
    assert new_keys == {after[(n, "medium")].key for n in (1, 2)}, "only the medium rungs"
    with resources.engine().connect() as conn:
        owed = set(conn.execute(select(PurgeItem.key)).scalars())
    assert owed == {first[(n, "medium")].key for n in (1, 2)}, "the old medium keys are purged"
    _, assets = db_state("mv-again")
    assert {a.key for a in assets.values()} == {first[(n, "large")].key for n in (1, 2)}


def test_backfill_renditions_fills_older_thumbnails_from_the_stored_large(env, monkeypatch):
    monkeypatch.setenv("REELFLOW_LADDER", "large:1280x720@85")
    reset_settings()
    with Origin() as origin:
        state, _ = run_import(serve_movie(origin, "mv-older", 3, previews=False))
    assert state.is_completed()
    # As migration 0007 leaves them: a large rendition, no placeholder; the origin is gone,
    # so the temporary URLs no longer answer.
    with resources.engine().begin() as conn:
        conn.execute(update(Asset).values(thumbhash=None, dominant_color=None))
    assert {rung for _, rung in renditions("mv-older")} == {"large"}
    large_before = {k: (r.key, r.sha256) for k, r in renditions("mv-older").items()}

    monkeypatch.delenv("REELFLOW_LADDER")
    reset_settings()
    dry_state, dry = backfill_renditions(dry_run=True)
    assert dry_state.is_completed() and dry.candidates == 3
    assert {line.error for line in dry.lines} == {"to make: medium/webp, small/webp"}
    assert {rung for _, rung in renditions("mv-older")} == {"large"}, "a dry run makes nothing"

    state, report = backfill_renditions()
    assert state.is_completed(), state.message
    assert (report.stored, report.failed) == (3, 0)
    rows = renditions("mv-older")
    assert set(rows) == {(n, rung) for n in (1, 2, 3) for rung in BOXES}
    assert {k: (r.key, r.sha256) for k, r in rows.items() if k[1] == "large"} == large_before
    for (_, rung), row in rows.items():
        assert (row.width, row.height) == BOXES[rung]
        assert row.key in objects()
    _, assets = db_state("mv-older")
    assert all(a.thumbhash and a.dominant_color for a in assets.values())
    again_state, again = backfill_renditions()
    assert again_state.is_completed() and again.candidates == 0


def test_two_backfills_at_once_make_each_rendition_once(env, monkeypatch):
    monkeypatch.setenv("REELFLOW_LADDER", "large:1280x720@85")
    reset_settings()
    with Origin() as origin:
        run_import(serve_movie(origin, "mv-race", 4, previews=False))
    monkeypatch.delenv("REELFLOW_LADDER")
    reset_settings()
    before = set(objects())
    results: list = []
    runs = [
        threading.Thread(target=lambda: results.append(backfill_renditions(batch_size=1)))
        for _ in range(2)
    ]
    for run in runs:
        run.start()
    for run in runs:
        run.join(300)
    assert len(results) == 2 and all(state.is_completed() for state, _ in results)
    assert sum(report.stored for _, report in results) == 4, "each asset taken by one run"
    assert sum(report.uploaded for _, report in results) == 4
    rows = renditions("mv-race")  # asserts one row per (episode, rung)
    assert len(rows) == 12
    assert set(objects()) - before == {r.key for (_, rung), r in rows.items() if rung != "large"}


def test_a_failed_upload_records_no_rendition(env, monkeypatch):
    """Rails #58853 wrote the variant row before the upload: a failed upload was 'done'."""
    proxy = FlakyS3(env["S3_ENDPOINT"], failures=1000, only="-small-")
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("S3_ENDPOINT", proxy.endpoint)
    monkeypatch.setenv("REELFLOW_RETRIES", "0")
    reset()
    try:
        with Origin() as origin:
            data = serve_movie(origin, "mv-halfway", 1, previews=False)
            state, summary = run_import(data)
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert state.is_failed() and summary.failed == 1
    assert proxy.puts >= 1, "the small rung's PUT was refused"
    episodes, assets = db_state("mv-halfway")
    assert assets[(1, "thumbnail")].status == "failed"
    assert episodes[0].thumbnail_url == data["episodes"][0]["thumbnail_url"]
    assert renditions("mv-halfway") == {}, "nothing is recorded before every upload succeeded"


def test_the_app_gets_every_rendition_a_srcset_and_the_placeholder_in_one_round_trip(
    env, redis_proc, monkeypatch
):
    import httpx
    import redis

    from reelflow.services import urls
    from tests.support.services import redis_env_values

    for key, value in redis_env_values(redis_proc.url, "reelflow-test:media:").items():
        monkeypatch.setenv(key, value)
    reset()
    with Origin() as origin:
        run_import(serve_movie(origin, "mv-app", 3))
    from sqlalchemy import event

    from reelflow.services import resources

    client = redis.Redis.from_url(redis_proc.url)
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    engine = resources.engine()
    event.listen(engine, "before_cursor_execute", count)
    try:
        before = client.info("commandstats").get("cmdstat_mget", {}).get("calls", 0)
        page = urls.episode_media("mv-app")
        after = client.info("commandstats").get("cmdstat_mget", {}).get("calls", 0)
        paged = urls.episode_media("mv-app", limit=2, offset=1)
    finally:
        event.remove(engine, "before_cursor_execute", count)
        client.close()
    assert after - before == 1, "3 episodes x (3 renditions + a preview): one MGET"
    assert len(statements) == 2, f"one SELECT per page, no N+1: {statements}"
    assert [row["episode"] for row in paged] == [2, 3]
    assert paged == page[1:]
    assert [row["episode"] for row in page] == [1, 2, 3]
    for row in page:
        rungs = [(r["rung"], r["format"], r["width"], r["height"]) for r in row["renditions"]]
        assert rungs == [
            ("large", "webp", 1280, 720),
            ("medium", "webp", 640, 360),
            ("small", "webp", 320, 180),
        ]
        assert row["thumbnail_url"] == row["renditions"][0]["url"]
        assert row["srcset"] == {
            "image/webp": ", ".join(f"{r['url']} {r['width']}w" for r in row["renditions"])
        }
        placeholder = row["placeholder"]
        assert re.fullmatch(r"#[0-9a-f]{6}", placeholder["color"]) and placeholder["thumbhash"]
        small = httpx.get(row["renditions"][2]["url"], timeout=10, trust_env=False)
        assert small.status_code == 200
        assert Image.open(io.BytesIO(small.content)).size == (320, 180)
        assert row["video_preview_url"] and "X-Amz-Signature" in row["video_preview_url"]


def test_status_costs_come_from_the_database(env, monkeypatch):
    import json

    from typer.testing import CliRunner

    from reelflow.cli.main import app

    monkeypatch.setenv("REELFLOW_VIEWS_PER_EPISODE_MONTH", "500")
    reset_settings()
    with Origin() as origin:
        run_import(serve_movie(origin, "mv-costs", 2))
    result = CliRunner().invoke(app, ["status", "--costs", "--movie", "mv-costs", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    rows = renditions("mv-costs")
    _, assets = db_state("mv-costs")
    sources = sum(a.source_bytes for (_, kind), a in assets.items() if kind == "thumbnail")
    by_rung = {r["rung"]: r for r in data["rungs"]}
    for rung in BOXES:
        assert by_rung[rung]["count"] == 2
        assert by_rung[rung]["bytes"] == sum(
            r.bytes for (_, name), r in rows.items() if name == rung
        )
        assert by_rung[rung]["source_bytes"] == sources
    assert data["thumbnails"] == 2 and data["thumbnail_source_bytes"] == sources
    assert data["previews"] == 2
    monthly = data["monthly"]
    medium = sum(r.bytes for (_, name), r in rows.items() if name == "medium")
    assert monthly["served_bytes_after"] == pytest.approx(500 * medium)
    assert monthly["served_bytes_before"] == pytest.approx(500 * sources)
    text = CliRunner().invoke(app, ["status", "--costs"])
    assert text.exit_code == 0 and "per 1,000 episodes" in text.stdout

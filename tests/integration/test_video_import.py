"""Videos end to end (Prefect, PostgreSQL, moto over HTTP, a local origin, ffmpeg): an episode
that has only its full-length video gets a muted preview clip and a poster with its ladder;
the probe's facts are recorded; a second run makes nothing; a changed clip setting remakes
only the clip; broken and hostile videos fail alone, with a clear error, losing nothing."""

from __future__ import annotations

import io
import os
from pathlib import Path

import av
import pytest
from PIL import Image, ImageStat
from sqlalchemy import select

from reelflow.adapters.db.schema import Asset, Episode, PurgeItem, RenditionRow
from reelflow.core.keys import rendition_key
from reelflow.core.ladder import content_version
from reelflow.devtools import media as samples
from reelflow.devtools.origin import Origin
from reelflow.services import resources
from reelflow.settings import get_settings, reset_settings
from tests.support.movies import db_state, objects, run_import
from tests.support.s3_client import s3_client
from tests.support.videos import lavfi

pytestmark = pytest.mark.usefixtures("prefect_server")


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("sources")
    return {
        "episode": samples.full_video(
            folder / "e.mp4", 30.0, 480, 270, black_intro=6.0
        ).read_bytes(),
        "other": samples.full_video(folder / "o.mp4", 30.0, 480, 270, seed=3).read_bytes(),
        "long-preview": samples.full_video(
            folder / "p.webm", 20.0, 320, 180, black_intro=0.0, audio=False, container="webm"
        ).read_bytes(),
    }


def rows_of(movie_id: str) -> dict[tuple[int, str, str, str], RenditionRow]:
    with resources.engine().connect() as conn:
        found = conn.execute(
            select(RenditionRow, Episode.number, Asset.kind)
            .join(Asset, Asset.id == RenditionRow.asset_id)
            .join(Episode, Episode.id == Asset.episode_id)
            .where(Episode.movie_id == movie_id)
        ).all()
    return {(r.number, r.kind, r.rung, r.format): r for r in found}


def body(key: str) -> bytes:
    s3 = s3_client()
    return s3.get_object(Bucket=get_settings().s3_bucket_name, Key=key)["Body"].read()


def manifest(origin: Origin, movie_id: str, served: dict[int, tuple[str, bytes]], tag: str = "a"):
    episodes = []
    for number, (field, data) in served.items():
        ext = "webm" if data[:4] == b"\x1a\x45\xdf\xa3" else "mp4"
        url = origin.add(f"/{movie_id}/{tag}/{number}/video.{ext}", data, f"video/{ext}")
        episodes.append({"number": number, field: url + "?token=secret-token"})
    return {"movie_id": movie_id, "episodes": episodes}


def test_a_video_only_episode_gets_a_clip_and_a_poster_ladder(env, sources, tmp_path):
    with Origin() as origin:
        data = manifest(origin, "mv-video", {1: ("video_url", sources["episode"])})
        state, summary = run_import(data)
    assert state.is_completed(), state.message
    assert (summary.stored, summary.failed) == (2, 0)
    episodes, assets = db_state("mv-video")
    rows = rows_of("mv-video")
    bucket = env["S3_BUCKET_NAME"]

    preview = assets[(1, "preview")]
    clip = rows[(1, "preview", "clip", "mp4")]
    version = content_version(preview.source_sha256, clip.spec_digest)
    assert clip.key == rendition_key("mv-video", 1, "clip", version, "mp4", "preview")
    assert preview.key == clip.key and episodes[0].video_preview_url == f"s3://{bucket}/{clip.key}"
    assert preview.content_type == "video/mp4" and clip.content_type == "video/mp4"
    source = preview.media["source"]
    assert source["container"] == "mp4" and source["codec"] == "h264"
    assert (source["width"], source["height"], source["audio"]) == (480, 270, True)
    assert source["seconds"] == pytest.approx(30.0, abs=0.1) and source["fps"] == 24.0
    made = preview.media["clip"]
    assert made["seconds"] == pytest.approx(6.0, abs=0.1) and made["codec"] == "h264"
    assert 3.0 <= made["start"] <= 24.0, "from the content window"

    stored_clip = tmp_path / "clip.mp4"
    stored_clip.write_bytes(body(clip.key))
    assert len(stored_clip.read_bytes()) == clip.bytes == preview.bytes
    with av.open(os.fspath(stored_clip)) as container:
        assert not container.streams.audio
        assert container.streams.video[0].codec_context.name == "h264"
        assert container.duration / av.time_base == pytest.approx(6.0, abs=0.1)

    thumb = assets[(1, "thumbnail")]
    large = rows[(1, "thumbnail", "large", "webp")]
    assert thumb.key == large.key and episodes[0].thumbnail_url == f"s3://{bucket}/{large.key}"
    assert thumb.source_sha256 == preview.source_sha256, "both from the same video"
    assert thumb.thumbhash and thumb.dominant_color
    assert thumb.media["poster"]["seconds"] >= 6.0, "past the black intro"
    # One analysis for both: the clip starts at the poster (moved back only near the end).
    assert made["start"] == min(thumb.media["poster"]["seconds"], 30.0 - 6.0)
    poster = Image.open(io.BytesIO(body(large.key)))
    assert poster.format == "WEBP" and poster.size == (480, 270), "never upscaled"
    assert ImageStat.Stat(poster.convert("L")).mean[0] > 40, "not black"
    from reelflow.services import urls

    page = urls.episode_media("mv-video")
    shown = page[0]["preview"]
    assert shown["seconds"] == pytest.approx(6.0, abs=0.1)
    assert (shown["width"], shown["height"]) == (480, 270)
    assert shown["clip_start"] == made["start"] and shown["source_seconds"] == source["seconds"]
    assert [s["format"] for s in shown["sources"]] == ["mp4"]
    assert clip.key in shown["sources"][0]["url"] and clip.key in page[0]["video_preview_url"]
    assert page[0]["renditions"][0]["url"] and large.key in page[0]["thumbnail_url"]
    assert {(r.rung, r.format) for k, r in rows.items() if k[1] == "thumbnail"} == {
        ("large", "webp"),
        ("medium", "webp"),
        ("small", "webp"),
    }


def test_nothing_is_made_twice_and_a_changed_clip_setting_remakes_only_the_clip(
    env, sources, monkeypatch
):
    with Origin() as origin:
        data = manifest(origin, "mv-again-v", {1: ("video_url", sources["other"])})
        run_import(data)
        first = rows_of("mv-again-v")
        before = {k: o["LastModified"] for k, o in objects().items()}
        origin.reset_log()
        state, second = run_import(data)
        assert state.is_completed() and (second.uploaded, second.skipped) == (0, 2)
        assert origin.requests() == 0, "nothing changed: the video is not fetched again"
        assert {k: o["LastModified"] for k, o in objects().items()} == before

        monkeypatch.setenv("REELFLOW_PREVIEW_CRF", "32")
        reset_settings()
        state, third = run_import(data)
        assert state.is_completed(), state.message
        after = rows_of("mv-again-v")
        new_keys = set(objects()) - set(before)
        assert new_keys == {after[(1, "preview", "clip", "mp4")].key}, "only the clip"
        for ident, row in after.items():
            if ident[1] == "thumbnail":
                assert (row.key, row.updated_at) == (first[ident].key, first[ident].updated_at)
        old_clip = first[(1, "preview", "clip", "mp4")]
        assert after[(1, "preview", "clip", "mp4")].bytes < old_clip.bytes, "crf 32 is smaller"
        with resources.engine().connect() as conn:
            owed = set(conn.execute(select(PurgeItem.key)).scalars())
        assert old_clip.key in owed, "the replaced clip is purged"

        monkeypatch.setenv("REELFLOW_PREVIEW_WEBM", "true")
        reset_settings()
        state, fourth = run_import(data)
    assert state.is_completed(), state.message
    last = rows_of("mv-again-v")
    webm = last[(1, "preview", "clip", "webm")]
    assert webm.content_type == "video/webm" and webm.key.endswith(".webm")
    assert last[(1, "preview", "clip", "mp4")].key == after[(1, "preview", "clip", "mp4")].key
    _, assets = db_state("mv-again-v")
    assert assets[(1, "preview")].key == last[(1, "preview", "clip", "mp4")].key


def test_a_long_ready_made_preview_is_cut_and_a_short_one_kept(env, sources):
    short = samples.preview_mp4(seconds=2.0, width=320, height=180, seed=5)
    with Origin() as origin:
        data = manifest(
            origin,
            "mv-ready",
            {1: ("video_preview_url", sources["long-preview"]), 2: ("video_preview_url", short)},
        )
        state, summary = run_import(data)
    assert state.is_completed(), state.message
    _, assets = db_state("mv-ready")
    rows = rows_of("mv-ready")
    cut = assets[(1, "preview")]
    assert cut.key == rows[(1, "preview", "clip", "mp4")].key
    assert "over 15 s" in rows[(1, "preview", "clip", "mp4")].key or cut.media["clip"]["why"]
    assert cut.media["source"]["container"] == "webm" and cut.media["source"]["codec"] == "vp9"
    kept = assets[(2, "preview")]
    assert kept.key == "episode-previews/mv-ready/ep2_preview.mp4", "stored as it came"
    assert kept.sha256 == kept.source_sha256 and (2, "preview", "clip", "mp4") not in rows
    assert kept.media["source"]["seconds"] == pytest.approx(2.0, abs=0.1)


def audio_only_webm(path: Path) -> bytes:
    return lavfi(path, "sine=duration=2", "-c:a", "libopus", "-f", "webm").read_bytes()


def test_broken_and_hostile_videos_fail_alone_and_lose_nothing(env, sources, tmp_path):
    whole = sources["episode"]
    with Origin() as origin:
        state, _ = run_import(manifest(origin, "mv-hostile", {1: ("video_url", whole)}))
        assert state.is_completed(), state.message
        _, stored = db_state("mv-hostile")
        kept = {kind: (a.key, a.sha256) for (_, kind), a in stored.items()}

        data = manifest(
            origin,
            "mv-hostile",
            {
                1: ("video_url", whole[: len(whole) // 2]),  # truncated: its index is lost
                2: ("video_url", samples.photo_jpeg(320, 180, seed=2)),  # an image named .mp4
                3: ("video_url", audio_only_webm(tmp_path / "tone.webm")),
                4: ("video_url", sources["other"]),
            },
            tag="b",
        )
        state, summary = run_import(data)
    assert not state.is_completed(), "failed assets make a failed run"
    assert (summary.stored, summary.failed) == (3, 5)
    episodes, assets = db_state("mv-hostile")
    # Episode 1 keeps what it had: a failed new source leaves the stored asset as it was.
    for kind in ("thumbnail", "preview"):
        one = assets[(1, kind)]
        assert (one.key, one.sha256, one.status) == (*kept[kind], "stored")
        assert "not a playable video" in one.last_error
    assert episodes[0].thumbnail_url.startswith("s3://")
    assert assets[(2, "preview")].status == "failed"
    assert "expected a video, got image content" in assets[(2, "preview")].last_error
    assert assets[(2, "thumbnail")].status == "stored", "an image still makes a thumbnail"
    for kind in ("thumbnail", "preview"):
        assert assets[(3, kind)].status == "failed"
        assert "no video stream (holds audio)" in assets[(3, kind)].last_error
        assert assets[(4, kind)].status == "stored"
    for row in assets.values():
        assert "secret-token" not in (row.last_error or "")
        assert "Traceback" not in (row.last_error or "")


def test_deleting_the_movie_purges_its_clips_and_posters(env, sources, monkeypatch):
    from deployments.launch import PrefectPurgeLauncher
    from reelflow.services.movies import delete_movie

    monkeypatch.setenv("REELFLOW_PREVIEW_WEBM", "true")
    reset_settings()
    with Origin() as origin:
        state, _ = run_import(manifest(origin, "mv-del-v", {1: ("video_url", sources["other"])}))
    assert state.is_completed(), state.message
    made = {row.key for row in rows_of("mv-del-v").values()}
    assert len(made) == 5, "three poster rungs, the MP4 and the WebM clip"
    assert made <= set(objects())

    result = delete_movie("mv-del-v", launcher=PrefectPurgeLauncher(), wait=True)

    assert result.purge is not None and result.purge.ok
    assert result.purge.deleted == 5
    assert not made & set(objects()), "every clip and poster is gone"
    assert rows_of("mv-del-v") == {}


def test_backfill_retries_a_video_only_episode_from_its_video(env, sources):
    from flows.backfill import backfill
    from reelflow.devtools.origin import Fault

    with Origin() as origin:
        url = origin.add(
            "/mv-back-v/1/video.mp4",
            sources["other"],
            "video/mp4",
            faults=[Fault.status(404, times=2)],  # gone for the import's two jobs
        )
        data = {"movie_id": "mv-back-v", "episodes": [{"number": 1, "video_url": url}]}
        state, summary = run_import(data)
        assert (summary.stored, summary.failed) == (0, 2)
        episodes, assets = db_state("mv-back-v")
        assert episodes[0].thumbnail_url is None and episodes[0].video_preview_url is None, (
            "a full-length video is passed through as neither thumbnail nor preview"
        )
        assert {a.status for a in assets.values()} == {"failed"}

        state = backfill(return_state=True)
    assert state.is_completed(), state.message
    episodes, assets = db_state("mv-back-v")
    rows = rows_of("mv-back-v")
    assert assets[(1, "thumbnail")].key == rows[(1, "thumbnail", "large", "webp")].key
    assert assets[(1, "preview")].key == rows[(1, "preview", "clip", "mp4")].key
    assert episodes[0].video_preview_url.endswith(".mp4") and "clip" in assets[(1, "preview")].key

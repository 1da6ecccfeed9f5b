"""Posters and preview clips from full-length videos, with the real ffmpeg and PyAV: the poster
is never the black intro, the clip is muted H.264 with its index first and lasts what it
should, rotation and odd sizes are honoured, and broken, hostile or runaway inputs end in a
clear error with nothing left behind (no temp file, no ffmpeg process)."""

from __future__ import annotations

import io
import os
import subprocess
import time
from pathlib import Path

import av
import pytest
from PIL import Image, ImageStat

from reelflow.adapters.ffmpeg import ffmpeg_exe, run_ffmpeg
from reelflow.adapters.probe import probe_video
from reelflow.adapters.transcode import choose_poster, make_clip, make_poster
from reelflow.core.errors import TooLarge, TranscodeFailed, UnsupportedMedia
from reelflow.core.media import expect_kind, judge_video, sniff
from reelflow.core.video import PreviewSpec, SourceLimits, clip_args, clip_plan, judge_source
from reelflow.devtools import media as samples
from tests.support.videos import lavfi

SPEC = PreviewSpec()


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("videos")


def source(videos: Path, name: str, **kw) -> Path:
    kw.setdefault("seconds", 20.0)
    kw.setdefault("width", 320)
    kw.setdefault("height", 180)
    return samples.full_video(videos / name, **kw)


def top_level_boxes(path: Path) -> list[str]:
    """The MP4's top-level box types, in file order."""
    data = path.read_bytes()
    boxes, at = [], 0
    while at + 8 <= len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        boxes.append(data[at + 4 : at + 8].decode("latin-1"))
        if size == 1:
            size = int.from_bytes(data[at + 8 : at + 16], "big")
        if size < 8:
            break
        at += size
    return boxes


def poster_of(path: Path, window: float = 60.0):
    probe = probe_video(path)
    seconds, why, _ = choose_poster(os.fspath(path), probe, window, 2, 60)
    return probe, make_poster(os.fspath(path), seconds, why, 2, 60)


def test_the_poster_is_not_the_black_intro(videos):
    path = source(videos, "black-intro.mp4", black_intro=8.0)
    probe, poster = poster_of(path)
    image = Image.open(io.BytesIO(poster.png)).convert("L")
    stat = ImageStat.Stat(image)
    assert image.size == (320, 180)
    assert stat.mean[0] > 40 and stat.stddev[0] > 20, "a frame with content"
    assert 8.0 <= poster.seconds <= probe.seconds * 0.9 and "keyframe" in poster.why


def test_a_video_that_is_black_throughout_falls_back_to_the_middle(videos):
    path = source(videos, "all-black.mp4", seconds=12.0, black_intro=12.0)
    probe, poster = poster_of(path)
    assert poster.seconds == pytest.approx(probe.seconds / 2, abs=0.05)
    assert poster.why.startswith("middle of the video")


def test_a_90_second_source_becomes_a_6_second_muted_h264_faststart_clip(videos):
    path = source(videos, "ninety.mp4", seconds=90.0)
    probe = probe_video(path)
    assert probe.audio and probe.seconds == pytest.approx(90.0, abs=0.1)
    _, poster = poster_of(path)
    plan = clip_plan(probe.seconds, poster.seconds, SPEC)
    clip = make_clip(os.fspath(path), plan, SPEC, "mp4", 2, 60)
    out = Path(clip.path)
    try:
        assert clip.seconds == pytest.approx(6.0, abs=0.1)
        assert plan.start == pytest.approx(poster.seconds) and plan.start >= 9.0
        with av.open(clip.path) as container:
            assert not container.streams.audio, "muted"
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264"
            assert stream.codec_context.format.name == "yuv420p"
        boxes = top_level_boxes(out)
        assert boxes.index("moov") < boxes.index("mdat"), f"index first: {boxes}"
        assert (clip.width, clip.height) == (320, 180), "a 180p source is not upscaled"
        assert clip.bytes == out.stat().st_size
    finally:
        out.unlink(missing_ok=True)


def test_a_webm_clip_is_vp9_and_muted(videos):
    path = source(videos, "for-webm.mp4", seconds=10.0)
    probe = probe_video(path)
    clip = make_clip(os.fspath(path), clip_plan(probe.seconds, 2.0, SPEC), SPEC, "webm", 2, 60)
    try:
        assert (clip.codec, clip.format) == ("vp9", "webm")
        assert clip.seconds == pytest.approx(6.0, abs=0.1)
        with av.open(clip.path) as container:
            assert not container.streams.audio
    finally:
        Path(clip.path).unlink(missing_ok=True)


def test_display_rotation_is_honoured_in_the_poster_and_the_clip(videos):
    path = source(videos, "rotated.mp4", seconds=10.0, width=320, height=180, rotation=90)
    probe = probe_video(path)
    assert probe.rotation in (90, 270) and probe.display_size == (180, 320)
    _, poster = poster_of(path)
    assert Image.open(io.BytesIO(poster.png)).size == (180, 320), "upright, portrait"
    clip = make_clip(os.fspath(path), clip_plan(probe.seconds, 2.0, SPEC), SPEC, "mp4", 2, 60)
    try:
        made = probe_video(clip.path)
        assert made.display_size == (180, 320) and made.rotation == 0, "turned, not tagged"
    finally:
        Path(clip.path).unlink(missing_ok=True)


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((1080, 1920), (480, 854)),  # portrait: the short side becomes 480
        ((1920, 1080), (854, 480)),
        ((321, 241), (320, 240)),  # odd: even sizes for 4:2:0, never upscaled
        ((2, 2), (2, 2)),
    ],
)
def test_portrait_and_odd_sizes_give_even_unupscaled_clips(videos, size, expected):
    width, height = size
    path = source(
        videos,
        f"size-{width}x{height}.mp4",
        seconds=3.0,
        width=width,
        height=height,
        black_intro=0.0,
        audio=False,
    )
    probe = probe_video(path)
    clip = make_clip(os.fspath(path), clip_plan(probe.seconds, 0.0, SPEC), SPEC, "mp4", 2, 60)
    try:
        assert (clip.width, clip.height) == expected
        assert clip.seconds == pytest.approx(3.0, abs=0.1)
    finally:
        Path(clip.path).unlink(missing_ok=True)


def test_a_one_pixel_video_still_gives_a_playable_clip(videos, tmp_path):
    path = lavfi(tmp_path / "one.mkv", "color=c=red:s=1x1:r=10:d=2", "-c:v", "ffv1")
    probe = probe_video(path)
    assert (probe.width, probe.height) == (1, 1)
    judge_video(expect_kind(path.read_bytes()[:64], "video"), probe)
    clip = make_clip(os.fspath(path), clip_plan(probe.seconds, 0.0, SPEC), SPEC, "mp4", 1, 60)
    try:
        assert (clip.width, clip.height) == (2, 2) and clip.codec == "h264"
    finally:
        Path(clip.path).unlink(missing_ok=True)


def _ffmpeg_children() -> list[int]:
    """Processes whose parent is this one and whose program is ffmpeg."""
    found = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if parent == me and b"ffmpeg" in cmd:
            found.append(int(entry))
    return found


def test_a_timed_out_ffmpeg_is_killed_and_leaves_no_file_and_no_process(videos, tmp_path):
    path = source(videos, "ninety.mp4", seconds=90.0)
    spool = tmp_path / "spool"
    spool.mkdir()
    src = spool / "a.src"
    src.write_bytes(path.read_bytes())
    # A whole 90 s at full quality on one thread takes seconds: a 0.3 s limit stops it.
    slow = PreviewSpec(seconds=60.0, preset="veryslow", height=720)
    plan = clip_plan(90.0, 0.0, slow)
    started = time.monotonic()
    with pytest.raises(TranscodeFailed, match=r"ran past 0.3 s and was stopped"):
        make_clip(os.fspath(src), plan, slow, "mp4", 1, 0.3)
    assert time.monotonic() - started < 10
    assert sorted(p.name for p in spool.iterdir()) == ["a.src"], "the partial clip is removed"
    assert _ffmpeg_children() == [], "no ffmpeg left running or unreaped"


def test_ffmpeg_cannot_fetch_a_url_itself(tmp_path):
    from reelflow.devtools.origin import Origin

    out = tmp_path / "x.mp4"
    args = clip_args("/dev/null", clip_plan(10.0, 0.0, SPEC), SPEC, "mp4", os.fspath(out), 1)
    with Origin() as origin:
        url = origin.add("/evil.mp4", samples.preview_mp4(seconds=1.0), "video/mp4")
        args[args.index("file:/dev/null")] = url
        with pytest.raises(TranscodeFailed, match="ffmpeg failed"):
            run_ffmpeg(args, what="fetching", timeout=30, outputs=[os.fspath(out)])
        assert origin.requests() == 0, "the file protocol alone: no request was made"
        assert not out.exists()
        # The same arguments without the whitelist do fetch: the test above could fail.
        at = args.index("-protocol_whitelist")
        run_ffmpeg(args[:at] + args[at + 2 :], what="control", timeout=60)
        assert origin.requests() > 0
    out.unlink(missing_ok=True)


def test_a_truncated_video_is_a_clear_error(videos, tmp_path):
    whole = source(videos, "ninety.mp4", seconds=90.0).read_bytes()
    moov_last = tmp_path / "cut.mp4"  # ffmpeg writes the index last unless told otherwise
    moov_last.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(UnsupportedMedia, match="not a playable video"):
        probe_video(moov_last)


def test_a_truncated_file_whose_index_survived_is_refused_not_cut_short(videos, tmp_path):
    whole = source(videos, "ninety.mp4", seconds=90.0)
    first = tmp_path / "faststart.mp4"
    subprocess.run(
        [
            ffmpeg_exe(),
            "-loglevel",
            "error",
            "-i",
            os.fspath(whole),
            "-c",
            "copy",
            "-movflags",
            "+faststart",
            os.fspath(first),
        ],
        check=True,
    )
    data = first.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    probe = probe_video(cut)
    assert probe.seconds == pytest.approx(90.0, abs=0.1), "the index still says 90 s"
    spec = PreviewSpec()
    for start in (40.0, 80.0):  # running off the end, and wholly past it
        with pytest.raises(TranscodeFailed, match=r"source ends early|does not play"):
            make_clip(os.fspath(cut), clip_plan(probe.seconds, start, spec), spec, "mp4", 2, 60)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.mp4", "faststart.mp4"]


def test_an_audio_only_file_and_an_image_renamed_mp4_are_refused(tmp_path):
    audio = lavfi(tmp_path / "tone.mp4", "sine=duration=1", "-c:a", "aac", "-f", "mp4")
    head = audio.read_bytes()[:64]
    if sniff(head) is None:
        with pytest.raises(UnsupportedMedia, match="expected a video"):
            expect_kind(head, "video")
    else:
        with pytest.raises(UnsupportedMedia, match=r"no video stream \(holds audio\)"):
            probe_video(audio)
    image = samples.photo_jpeg(320, 180, seed=1) if hasattr(samples, "photo_jpeg") else b""
    with pytest.raises(UnsupportedMedia, match=r"expected a video, got image content"):
        expect_kind(image[:64], "video")


def test_limits_refuse_an_over_long_source_before_any_transcode(videos):
    probe = probe_video(source(videos, "ninety.mp4", seconds=90.0))
    with pytest.raises(TooLarge, match="REELFLOW_MAX_VIDEO_SECONDS"):
        judge_source(probe, SourceLimits(max_seconds=60.0))
    with pytest.raises(TooLarge, match="REELFLOW_MAX_VIDEO_PIXELS"):
        judge_source(probe, SourceLimits(max_pixels=320 * 179))


def test_both_jobs_of_an_episode_share_one_analysis_even_at_once(videos):
    import threading

    from reelflow.adapters.transcode import analyse

    path = os.fspath(source(videos, "black-intro.mp4", black_intro=8.0))
    judged = []
    barrier = threading.Barrier(2)
    got = []

    def job() -> None:
        barrier.wait()
        got.append(analyse(path, "a" * 64, 60.0, 1, 60, judged.append))

    threads = [threading.Thread(target=job) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert got[0] is got[1], "one probe and one keyframe scan for both"
    assert len(judged) == 2, "each job still judges the file"
    assert analyse(path, "b" * 64, 60.0, 1, 60, judged.append) is not got[0], "other bytes"

    def refuse(_probe) -> None:
        raise UnsupportedMedia("refused")

    with pytest.raises(UnsupportedMedia):
        analyse(path, "c" * 64, 60.0, 1, 60, refuse)
    # A refused file is not remembered: the same bytes judged again are analysed again.
    assert analyse(path, "c" * 64, 60.0, 1, 60, judged.append) is not got[0]

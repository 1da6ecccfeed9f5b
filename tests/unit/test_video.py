"""The video decisions (reelflow.core.video) as plain tables: what is refused, what is stored as
it came, where the poster and the clip come from, and the ffmpeg argument lists."""

from __future__ import annotations

import pytest

from reelflow.core.errors import InvalidKey, ManifestError, TooLarge, UnsupportedMedia
from reelflow.core.keys import is_managed_key, rendition_key
from reelflow.core.manifest import parse_manifest
from reelflow.core.media import VideoProbe
from reelflow.core.video import (
    SCAN_HEIGHT,
    SCAN_WIDTH,
    ClipPlan,
    Frame,
    PreviewSpec,
    SourceLimits,
    clip_args,
    clip_plan,
    content_window,
    judge_source,
    parse_showinfo_times,
    pick_poster,
    playable_as_is,
    poster_args,
    scan_args,
)

N = SCAN_WIDTH * SCAN_HEIGHT


def probe(**kw: object) -> VideoProbe:
    base: dict[str, object] = dict(
        formats=("mov", "mp4"),
        codec="h264",
        width=1920,
        height=1080,
        seconds=90.0,
        decoded_frame=True,
    )
    base.update(kw)
    return VideoProbe(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("facts", "error", "words"),
    [
        ({"width": 0}, UnsupportedMedia, "no picture size"),
        ({"decoded_frame": False}, UnsupportedMedia, "no frame decodes"),
        ({"seconds": None}, UnsupportedMedia, "no known duration"),
        ({"seconds": 0.0}, UnsupportedMedia, "no known duration"),
        ({"seconds": float("nan")}, UnsupportedMedia, "no known duration"),
        ({"width": 7681, "height": 4321}, TooLarge, "REELFLOW_MAX_VIDEO_PIXELS"),
        ({"seconds": 4 * 3600 + 1.0}, TooLarge, "REELFLOW_MAX_VIDEO_SECONDS"),
    ],
)
def test_judge_source_refuses_what_cannot_become_a_preview(facts, error, words):
    with pytest.raises(error, match=words):
        judge_source(probe(**facts), SourceLimits())


@pytest.mark.parametrize(
    "facts", [{}, {"width": 7680, "height": 4320}, {"seconds": 4 * 3600.0}, {"seconds": 0.04}]
)
def test_judge_source_accepts_within_the_limits(facts):
    judge_source(probe(**facts), SourceLimits())  # no exception: 8K and 4 h are allowed


@pytest.mark.parametrize(
    ("ext", "codec", "seconds", "transcode_because"),
    [
        ("mp4", "h264", 6.0, None),
        ("webm", "vp9", 10.0, None),
        ("webm", "vp8", 15.0, None),
        ("mp4", "h264", 15.1, "over 15 s"),
        ("mp4", "hevc", 5.0, "hevc in mp4"),
        ("webm", "h264", 5.0, "h264 in webm"),
        ("mov", "h264", 5.0, "mov is not a container"),
        ("mkv", "vp9", 5.0, "mkv is not a container"),
    ],
)
def test_a_ready_made_preview_is_kept_only_when_short_and_web_playable(
    ext, codec, seconds, transcode_because
):
    why = playable_as_is(ext, probe(codec=codec, seconds=seconds), PreviewSpec())
    if transcode_because is None:
        assert why is None
    else:
        assert why is not None and transcode_because in why


@pytest.mark.parametrize(
    ("duration", "window", "expected"),
    [
        (90.0, 60.0, (9.0, 60.0)),
        (90.0, 600.0, (9.0, 72.0)),  # never past 90%: end credits
        (7200.0, 60.0, (720.0, 60.0)),
        (1.0, 60.0, (0.1, 0.8)),
    ],
)
def test_the_content_window_starts_after_the_first_tenth(duration, window, expected):
    assert content_window(duration, window) == expected


def frame(at: float, values: list[int]) -> Frame:
    return Frame(seconds=at, luma=bytes(values[i % len(values)] for i in range(N)))


BLACK = [0, 2, 4]
GREY = [128, 129]
CONTENT = [10, 200, 60, 240, 120]
ALIKE = [12, 198, 64, 236, 118]
ODD = [250, 5]


def test_black_and_near_uniform_keyframes_are_never_the_poster():
    at, why = pick_poster([frame(10, BLACK), frame(20, GREY), frame(30, CONTENT)], 100.0)
    assert at == 30 and "1 of 3" in why


def test_the_most_representative_keyframe_wins():
    frames = [frame(10, CONTENT), frame(20, ODD), frame(30, ALIKE), frame(40, CONTENT)]
    at, _ = pick_poster(frames, 100.0)
    assert at in (10, 30, 40), "the outlier (two extreme tones) is not representative"


@pytest.mark.parametrize("frames", [[], [frame(10, BLACK), frame(20, GREY)]])
def test_with_no_content_the_poster_is_the_middle(frames):
    at, why = pick_poster(frames, 90.0)
    assert at == 45.0 and why.startswith("middle of the video")


@pytest.mark.parametrize(
    ("duration", "poster", "expected"),
    [
        (90.0, 20.0, ClipPlan(20.0, 6.0)),
        (90.0, 88.0, ClipPlan(84.0, 6.0)),  # moved back to end within the video
        (4.0, 2.0, ClipPlan(0.0, 4.0)),  # shorter than a clip: all of it
        (90.0, -1.0, ClipPlan(0.0, 6.0)),
    ],
)
def test_the_clip_starts_where_the_poster_is(duration, poster, expected):
    assert clip_plan(duration, poster, PreviewSpec()) == expected


def test_showinfo_times_are_read_in_order():
    log = (
        "[Parsed_showinfo_2 @ 0x1] n:   0 pts:  91136 pts_time:7.41667 duration: 512\n"
        "noise pts_time:99\n"
        "[Parsed_showinfo_2 @ 0x1] n:   1 pts: 215040 pts_time:17.5    duration: 512\n"
    )
    assert parse_showinfo_times(log) == [7.41667, 17.5]


def test_spec_digests_change_only_for_the_output_whose_settings_changed():
    base = PreviewSpec(webm=True)
    assert set(base.digests()) == {("clip", "mp4"), ("clip", "webm")}
    crf = PreviewSpec(webm=True, crf=28).digests()
    assert crf[("clip", "mp4")] != base.digests()[("clip", "mp4")]
    assert crf[("clip", "webm")] == base.digests()[("clip", "webm")]
    assert PreviewSpec().stale(base.digests()) == ()
    assert PreviewSpec(webm=True).stale(PreviewSpec().digests()) == (("clip", "webm"),)
    assert PreviewSpec(seconds=8).stale(PreviewSpec().digests()) == (("clip", "mp4"),)


@pytest.mark.parametrize("builder", ["scan", "poster", "clip-mp4", "clip-webm"])
def test_ffmpeg_reads_only_the_spool_file_with_bounded_threads(builder):
    src, out = "/spool/a.src", "/spool/a.out"
    args = {
        "scan": lambda: scan_args(src, 9.0, 60.0, 2),
        "poster": lambda: poster_args(src, 12.5, out, 2),
        "clip-mp4": lambda: clip_args(src, ClipPlan(12.5, 6.0), PreviewSpec(), "mp4", out, 2),
        "clip-webm": lambda: clip_args(src, ClipPlan(12.5, 6.0), PreviewSpec(), "webm", out, 2),
    }[builder]()
    assert all(isinstance(a, str) for a in args)
    inputs = [args[i + 1] for i, a in enumerate(args) if a == "-i"]
    assert inputs == [f"file:{src}"], "one input: the spool file"
    assert args[args.index("-protocol_whitelist") + 1] == "file"
    assert args.index("-protocol_whitelist") < args.index("-i")
    assert args.count("-threads") == 2 and {
        args[i + 1] for i, a in enumerate(args) if a == "-threads"
    } == {"2"}
    assert "-nostdin" in args and "-an" in args
    assert not any("://" in a for a in args)


def test_the_mp4_clip_is_muted_h264_with_its_index_first():
    args = clip_args("/s", ClipPlan(3.0, 6.0), PreviewSpec(), "mp4", "/o.mp4", 1)
    pairs = dict(zip(args, args[1:]))
    assert pairs["-c:v"] == "libx264" and pairs["-movflags"] == "+faststart"
    assert pairs["-ss"] == "3.000" and pairs["-t"] == "6.000" and pairs["-crf"] == "23"
    assert pairs["-pix_fmt"] == "yuv420p" and "480" in pairs["-vf"]


def test_a_clip_key_is_a_managed_versioned_preview_key():
    key = rendition_key("m1", 3, "clip", "0123456789", "mp4", "preview")
    assert key == "episode-previews/m1/ep3_preview-clip-0123456789.mp4"
    assert is_managed_key(key)
    with pytest.raises(InvalidKey):
        rendition_key("../m1", 3, "clip", "0123456789", "mp4", "preview")
    assert not is_managed_key("episode-previews/m1/ep3_preview-clip-0123.mp4")


def test_the_manifest_takes_a_full_length_video_url():
    manifest = parse_manifest(
        {"movie_id": "m", "episodes": [{"number": 1, "video_url": "https://cdn/e1.mp4"}]}
    )
    assert manifest.episodes[0].video_url == "https://cdn/e1.mp4"
    with pytest.raises(ManifestError, match="video_url"):
        parse_manifest({"movie_id": "m", "episodes": [{"number": 1, "video_url": "file:///x"}]})
    schema = manifest.model_json_schema()["$defs"]["EpisodeIn"]["properties"]
    assert "full-length" in schema["video_url"]["description"]
    assert "ready-made" in schema["video_preview_url"]["description"]

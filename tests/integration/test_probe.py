"""The one media probe (reelflow.adapters.probe, PyAV) on real and lying files, and the rule
that accepts a preview (reelflow.core.media.judge_video)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from reelflow.adapters.probe import probe_video
from reelflow.core.errors import UnsupportedMedia
from reelflow.core.media import MKV, MP4, WEBM, VideoProbe, judge_video, sniff
from reelflow.devtools import media as samples


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("make", "name", "formats", "codec"),
    [
        (samples.preview_webm, "a.webm", {"webm", "matroska"}, "vp8"),
        (samples.preview_mp4, "a.mp4", {"mp4", "mov"}, "h264"),
    ],
)
def test_a_real_preview_probes_with_its_facts(tmp_path, make, name, formats, codec):
    data = make(seconds=1.0, width=320, height=180, seed=3)
    probe = probe_video(write(tmp_path, name, data))
    assert set(probe.formats) >= formats
    assert (probe.codec, probe.width, probe.height, probe.decoded_frame) == (codec, 320, 180, True)
    assert probe.seconds == pytest.approx(1.0, abs=0.1)
    judge_video(sniff(data[:64]), probe)  # accepted


def test_an_audio_only_file_has_no_video_stream(tmp_path):
    from imageio_ffmpeg import get_ffmpeg_exe

    out = tmp_path / "tone.webm"
    subprocess.run(
        [
            get_ffmpeg_exe(),
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=duration=0.5",
            "-c:a",
            "libopus",
            str(out),
        ],
        check=True,
    )
    assert sniff(out.read_bytes()[:64]) == WEBM  # passes the magic-byte check
    with pytest.raises(UnsupportedMedia, match=r"no video stream \(holds audio\)"):
        probe_video(out)


LYING = {
    "16-byte-mp4": b"\x00\x00\x00\x10ftypisom\x00\x00\x02\x00",
    "ftyp-size-ffffffff": b"\xff\xff\xff\xffftypisom\x00\x00\x02\x00isomavc1" + bytes(4000),
    "webm-header-only": samples.preview_webm(seconds=0.5, seed=1)[:300],
    "webm-then-noise": samples.preview_webm(seconds=0.5, seed=1)[:64] + os.urandom(30_000),
    "mp4-then-html": samples.preview_mp4(seconds=0.5, seed=1)[:40] + b"<html>" * 2000,
}


@pytest.mark.parametrize("name", sorted(LYING))
def test_a_file_that_only_starts_like_a_video_is_refused(tmp_path, name):
    data = LYING[name]
    assert sniff(data[:64]) is not None and sniff(data[:64]).kind == "video"  # type: ignore[union-attr]
    with pytest.raises(UnsupportedMedia) as refused:
        probe = probe_video(write(tmp_path, name, data))
        judge_video(sniff(data[:64]), probe)  # type: ignore[arg-type]
    assert str(tmp_path) not in str(refused.value)  # FFmpeg's reason, not our spool path


def probe(formats=("matroska", "webm"), width=640, height=360, decoded=True, seconds=2.0):
    return VideoProbe(
        formats=formats,
        codec="vp8",
        width=width,
        height=height,
        seconds=seconds,
        decoded_frame=decoded,
    )


@pytest.mark.parametrize(
    ("announced", "found", "refusal"),
    [
        (WEBM, probe(), None),
        (MKV, probe(), None),
        (MP4, probe(formats=("mov", "mp4", "m4a", "3gp", "3g2", "mj2")), None),
        (MP4, probe(), "starts like video/mp4 but demuxes as matroska/webm"),
        (WEBM, probe(formats=("mp3",)), "demuxes as mp3"),
        (WEBM, probe(width=0), "has no picture size"),
        (WEBM, probe(decoded=False), "no frame decodes"),
        (WEBM, probe(seconds=-1.0), "negative duration"),
        (WEBM, probe(seconds=None), None),
    ],
)
def test_judge_video(announced, found, refusal):
    if refusal is None:
        judge_video(announced, found)
    else:
        with pytest.raises(UnsupportedMedia, match=refusal):
            judge_video(announced, found)

"""Task: turn a downloaded file into what gets uploaded: a thumbnail's ladder of sizes (from
the image, or from a poster frame of the episode's video), a preview as it came (a short clip
browsers play) or a muted clip cut from a longer video (reelflow.core.video)."""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from pathlib import Path

from prefect import task
from prefect.cache_policies import NONE

from reelflow.adapters.probe import probe_video
from reelflow.adapters.transcode import Analysis, Clip, analyse, make_clip, make_poster
from reelflow.core.imaging import ImagePolicy, Rendering, render_ladder
from reelflow.core.media import SNIFF_BYTES, MediaType, VideoProbe, expect_kind, judge_video, sniff
from reelflow.core.models import Downloaded, Prepared, RenditionFile
from reelflow.core.units import human_size
from reelflow.core.video import CLIP_RUNG, clip_plan, judge_source, playable_as_is
from reelflow.settings import Settings, get_settings
from tasks.log import run_logger
from tasks.retry import step_failures
from tasks.spool import spool_errors

_CLIP_TYPES = {"mp4": "video/mp4", "webm": "video/webm"}


@functools.cache
def _video_slots(n: int) -> threading.BoundedSemaphore:
    """At most n videos transcoded at once in this process (REELFLOW_TRANSCODE_CONCURRENCY);
    each ffmpeg uses REELFLOW_FFMPEG_THREADS."""
    return threading.BoundedSemaphore(n)


@functools.cache
def _cpu_slots(n: int) -> threading.BoundedSemaphore:
    """Compression is CPU-bound: at most n images at once in this process, whatever the pool."""
    return threading.BoundedSemaphore(n)


@task(name="prepare", cache_policy=NONE)
def prepare_asset(downloaded: Downloaded) -> Prepared:
    """Not retried: the same bytes compress the same way. Its attempts are the download's."""
    with step_failures("prepare", earlier_attempts=downloaded.attempts - 1):
        return _prepare(downloaded)


def _prepare(downloaded: Downloaded) -> Prepared:
    settings = get_settings()
    job = downloaded.job
    src = Path(downloaded.path)
    try:
        with open(src, "rb") as handle:  # videos are probed, never read whole
            head = handle.read(SNIFF_BYTES)
        if job.kind == "preview":
            return _preview(downloaded, src, expect_kind(head, "video"), settings)
        found = sniff(head)
        if found is not None and found.kind == "video":  # the poster of a full-length video
            return _poster(downloaded, src, found, settings)
        return _render(downloaded, src, settings, src.read_bytes())  # at most max_image_bytes
    except BaseException:
        src.unlink(missing_ok=True)
        raise


def _analyse(downloaded: Downloaded, src: Path, media: MediaType, settings: Settings) -> Analysis:
    """The source's probe, refused unless it is a real video of the announced container within
    the limits (REELFLOW_MAX_VIDEO_SECONDS, REELFLOW_MAX_VIDEO_PIXELS), and its poster time:
    once per source (reelflow.adapters.transcode.analyse)."""

    def judge(probe: VideoProbe) -> None:
        judge_video(media, probe)
        judge_source(probe, settings.video_limits())

    with _video_slots(settings.transcode_concurrency):
        return analyse(
            os.fspath(src),
            downloaded.sha256,
            settings.poster_window_seconds,
            settings.ffmpeg_threads,
            settings.ffmpeg_timeout,
            judge,
        )


def _source_facts(media: MediaType, probe: VideoProbe) -> dict[str, object]:
    return {**probe.facts(), "container": media.ext}


def _poster(downloaded: Downloaded, src: Path, media: MediaType, settings: Settings) -> Prepared:
    """The thumbnail of an episode that has only a video: a representative frame, through the
    image ladder like any thumbnail (sizes, WebP, placeholder)."""
    found = _analyse(downloaded, src, media, settings)
    with _video_slots(settings.transcode_concurrency):
        poster = make_poster(
            os.fspath(src),
            found.poster_at,
            found.why,
            settings.ffmpeg_threads,
            settings.ffmpeg_timeout,
        )
    run_logger().info(
        "Poster of %s at %.2f s of %.1f s: %s",
        downloaded.job.label,
        poster.seconds,
        found.probe.seconds or 0.0,
        poster.why,
    )
    media_facts: dict[str, object] = {
        "source": _source_facts(media, found.probe),
        "poster": {"seconds": poster.seconds, "why": poster.why},
    }
    return _render(downloaded, src, settings, poster.png, media=media_facts)


def _preview(downloaded: Downloaded, src: Path, media: MediaType, settings: Settings) -> Prepared:
    """A ready-made short clip browsers play is stored as it is; anything else (a full-length
    video, a long or unplayable preview) becomes a muted clip cut from its content."""
    job = downloaded.job
    spec = settings.preview_spec()
    found: Analysis | None = None
    reason: str | None = "cut from the full-length video"
    if job.from_video:
        found = _analyse(downloaded, src, media, settings)
        probe = found.probe
    else:  # probed first: a short web-playable clip is not scanned
        probe = probe_video(src)
        judge_video(media, probe)
        judge_source(probe, settings.video_limits())
        reason = playable_as_is(media.ext, probe, spec)
        found = _analyse(downloaded, src, media, settings) if reason else None
    facts = _source_facts(media, probe)
    if reason is None:
        return Prepared(
            job=job,
            path=os.fspath(src),
            content_type=media.content_type,
            ext=media.ext,
            bytes=downloaded.bytes,
            sha256=downloaded.sha256,
            source_bytes=downloaded.bytes,
            source_sha256=downloaded.sha256,
            width=probe.width,
            height=probe.height,
            attempts=downloaded.attempts,
            media={"source": facts},
        )
    assert probe.seconds is not None  # judge_source refuses an unknown duration
    outputs = spec.specs()
    if job.make is not None:
        outputs = tuple(o for o in outputs if (o[0], o[1]) in set(job.make))
    threads, timeout = settings.ffmpeg_threads, settings.ffmpeg_timeout
    clips: list[Clip] = []
    assert found is not None
    at, why = found.poster_at, found.why
    plan = clip_plan(probe.seconds, at, spec)
    try:
        with _video_slots(settings.transcode_concurrency):
            for _, fmt, _ in outputs:
                clips.append(make_clip(os.fspath(src), plan, spec, fmt, threads, timeout))
    except BaseException:
        for clip in clips:
            Path(clip.path).unlink(missing_ok=True)
        raise
    files = tuple(
        RenditionFile(
            rung=rung,
            format=fmt,
            digest=digest,
            path=clip.path,
            content_type=_CLIP_TYPES[fmt],
            ext=fmt,
            width=clip.width,
            height=clip.height,
            bytes=clip.bytes,
            sha256=clip.sha256,
            note=reason,
        )
        for (rung, fmt, digest), clip in zip(outputs, clips, strict=True)
    )
    run_logger().info(
        "Cut %s: %.1f s from %.2f s of %.1f s (%s; start: %s): %s",
        job.label,
        plan.seconds,
        plan.start,
        probe.seconds,
        reason,
        why,
        ", ".join(f"{c.format} {c.width}x{c.height} {human_size(c.bytes)}" for c in clips),
    )
    src.unlink(missing_ok=True)
    first = files[0]
    return Prepared(
        job=job,
        path=first.path,
        content_type=first.content_type,
        ext=first.ext,
        bytes=first.bytes,
        sha256=first.sha256,
        source_bytes=downloaded.bytes,
        source_sha256=downloaded.sha256,
        width=first.width,
        height=first.height,
        compressed=True,
        note=reason,
        attempts=downloaded.attempts,
        renditions=files,
        partial=(first.rung, first.format) != (CLIP_RUNG, "mp4"),
        media={
            "source": facts,
            "clip": {
                "start": plan.start,
                "seconds": clips[0].seconds,
                "codec": clips[0].codec,
                "width": first.width,
                "height": first.height,
                "why": reason,
                "start_chosen": why,
            },
        },
    )


def _describe(rendering: Rendering) -> str:
    """'487.3 KB -> large 1280x720 98.2 KB, medium 640x360 31.0 KB, ...' for the log."""
    parts = [
        f"{r.spec.name}{'' if r.spec.format == 'webp' else ' ' + r.spec.format} "
        f"{r.width}x{r.height} {human_size(len(r.data))}"
        + (f" (original kept: {r.note})" if r.kept_original else "")
        for r in rendering.renditions
    ]
    return f"{human_size(rendering.input_bytes)} -> " + ", ".join(parts)


def _render(
    downloaded: Downloaded,
    src: Path,
    settings: Settings,
    data: bytes,
    media: dict[str, object] | None = None,
) -> Prepared:
    """Every rendition the job asks for, from one decode of `data` (the downloaded image, or
    a video's poster frame), each written to the spool."""
    job = downloaded.job
    expect_kind(data[:64], "image")
    ladder = settings.image_ladder()
    specs = ladder.specs()
    if job.make is not None:
        wanted = set(job.make)
        specs = tuple(spec for spec in specs if spec.ident in wanted)
    policy = ImagePolicy(
        max_pixels=settings.max_image_pixels,
        max_decode_bytes=settings.max_decode_mb * 2**20,
        max_icc_bytes=settings.max_icc_bytes,
    )
    with _cpu_slots(settings.compress_concurrency):
        rendering = render_ladder(data, specs, policy)
    run_logger().debug("Rendered %s: %s", job.label, _describe(rendering))
    files = []
    with spool_errors(src.parent):
        for one in rendering.renditions:
            out = src.with_name(f"{src.stem}-{one.spec.name}-{one.spec.format}.{one.ext}")
            out.write_bytes(one.data)
            files.append(
                RenditionFile(
                    rung=one.spec.name,
                    format=one.spec.format,
                    digest=one.spec.digest,
                    path=os.fspath(out),
                    content_type=one.content_type,
                    ext=one.ext,
                    width=one.width,
                    height=one.height,
                    bytes=len(one.data),
                    sha256=hashlib.sha256(one.data).hexdigest(),
                    note=one.note,
                )
            )
    src.unlink(missing_ok=True)
    # The asset row describes the primary rendition (the largest rung in WebP); a job that
    # makes only other rungs (or only the placeholder) leaves the row's object as it is.
    primary = (ladder.primary.name, "webp")
    partial = not files or (files[0].rung, files[0].format) != primary
    source_sha256 = downloaded.sha256
    if job.from_stored and job.known_source_sha256:
        source_sha256 = job.known_source_sha256  # keys are versioned by the original source
    first = files[0] if files else None
    return Prepared(
        job=job,
        path=first.path if first else "",
        content_type=first.content_type if first else "",
        ext=first.ext if first else "",
        bytes=first.bytes if first else 0,
        sha256=first.sha256 if first else "",
        source_bytes=downloaded.bytes,
        source_sha256=source_sha256,
        width=first.width if first else None,
        height=first.height if first else None,
        compressed=bool(first) and not rendering.renditions[0].kept_original,
        note=first.note if first else "placeholder only",
        attempts=downloaded.attempts,
        renditions=tuple(files),
        placeholder=rendering.placeholder,
        partial=partial,
        media=media,
    )

"""Task: turn a downloaded file into what gets uploaded (compress images, check videos)."""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from pathlib import Path

from prefect import task
from prefect.cache_policies import NONE

from reelflow.adapters.probe import probe_video
from reelflow.core.imaging import ImagePolicy, Rendering, render_ladder
from reelflow.core.media import expect_kind, judge_video
from reelflow.core.models import Downloaded, Prepared, RenditionFile
from reelflow.core.units import human_size
from reelflow.settings import Settings, get_settings
from tasks.log import run_logger
from tasks.retry import step_failures
from tasks.spool import spool_errors


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
        if job.kind == "preview":
            with open(src, "rb") as handle:  # previews are only checked, never read whole
                media = expect_kind(handle.read(64), "video")
            probe = probe_video(src)  # a real container whose first frame decodes
            judge_video(media, probe)
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
            )
        return _render(downloaded, src, settings)
    except BaseException:
        src.unlink(missing_ok=True)
        raise


def _describe(rendering: Rendering) -> str:
    """'487.3 KB -> large 1280x720 98.2 KB, medium 640x360 31.0 KB, ...' for the log."""
    parts = [
        f"{r.spec.name}{'' if r.spec.format == 'webp' else ' ' + r.spec.format} "
        f"{r.width}x{r.height} {human_size(len(r.data))}"
        + (f" (original kept: {r.note})" if r.kept_original else "")
        for r in rendering.renditions
    ]
    return f"{human_size(rendering.input_bytes)} -> " + ", ".join(parts)


def _render(downloaded: Downloaded, src: Path, settings: Settings) -> Prepared:
    """Every rendition the job asks for, from one decode, each written to the spool."""
    job = downloaded.job
    data = src.read_bytes()  # at most max_image_bytes
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
    run_logger().info("Rendered %s: %s", job.label, _describe(rendering))
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
    )

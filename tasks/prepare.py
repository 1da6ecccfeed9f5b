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
from reelflow.core.imaging import ImagePolicy, compress_image
from reelflow.core.media import expect_kind, judge_video
from reelflow.core.models import Downloaded, Prepared
from reelflow.settings import get_settings
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
        data = src.read_bytes()  # at most max_image_bytes
        expect_kind(data[:64], "image")
        large = settings.image_ladder().primary
        policy = ImagePolicy(
            max_width=large.max_width,
            max_height=large.max_height,
            quality=large.quality,
            max_pixels=settings.max_image_pixels,
            max_decode_bytes=settings.max_decode_mb * 2**20,
            max_icc_bytes=settings.max_icc_bytes,
        )
        with _cpu_slots(settings.compress_concurrency):
            result = compress_image(data, policy)
        run_logger().info("Compressed %s: %s", job.label, result.describe())
        out = src.with_suffix(f".{result.ext}")
        with spool_errors(src.parent):
            out.write_bytes(result.data)
        src.unlink(missing_ok=True)
        return Prepared(
            job=job,
            path=os.fspath(out),
            content_type=result.content_type,
            ext=result.ext,
            bytes=result.output_bytes,
            sha256=hashlib.sha256(result.data).hexdigest(),
            source_bytes=downloaded.bytes,
            source_sha256=downloaded.sha256,
            width=result.width,
            height=result.height,
            compressed=result.compressed,
            note=result.note,
            attempts=downloaded.attempts,
        )
    except BaseException:
        src.unlink(missing_ok=True)
        raise

"""Task: turn a downloaded file into what gets uploaded (compress images, check videos)."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from prefect import task
from prefect.cache_policies import NONE

from reelflow.imaging import ImagePolicy, compress_image
from reelflow.media import expect_kind
from reelflow.models import Downloaded, Prepared
from reelflow.settings import get_settings
from tasks.log import run_logger

# Compression is CPU-bound: at most compress_concurrency images at once, whatever the pool size.
_cpu_slots: threading.BoundedSemaphore | None = None
_cpu_lock = threading.Lock()


def _slots(n: int) -> threading.BoundedSemaphore:
    global _cpu_slots
    with _cpu_lock:
        if _cpu_slots is None or _cpu_slots._initial_value != n:  # type: ignore[attr-defined]
            _cpu_slots = threading.BoundedSemaphore(n)
        return _cpu_slots


@task(name="prepare", cache_policy=NONE)
def prepare_asset(downloaded: Downloaded) -> Prepared:
    settings = get_settings()
    job = downloaded.job
    src = Path(downloaded.path)
    try:
        with open(src, "rb") as handle:
            head = handle.read(64)
        if job.kind == "preview":
            media = expect_kind(head, "video")
            return Prepared(
                job=job,
                path=os.fspath(src),
                content_type=media.content_type,
                ext=media.ext,
                bytes=downloaded.bytes,
                sha256=downloaded.sha256,
                source_bytes=downloaded.bytes,
                source_sha256=downloaded.sha256,
                attempts=downloaded.attempts,
            )
        expect_kind(head, "image")
        policy = ImagePolicy(
            max_width=settings.image_max_width,
            max_height=settings.image_max_height,
            quality=settings.webp_quality,
            max_pixels=settings.max_image_pixels,
        )
        with _slots(settings.compress_concurrency):
            result = compress_image(src.read_bytes(), policy)
        run_logger().info("Compressed %s: %s", job.label, result.describe())
        out = src.with_suffix(f".{result.ext}")
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
    except Exception as exc:
        src.unlink(missing_ok=True)
        exc.attempts = downloaded.attempts  # type: ignore[attr-defined]
        raise

"""The spool: where downloads and compressed files wait for their upload. A full disk or a
process out of file descriptors is transient (other assets finishing free them), and said so
with the path and the setting to change (reelflow.core.errors.local_resource_error)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reelflow.core.errors import LocalResourceExhausted, local_resource_error
from reelflow.settings import Settings
from tasks.log import run_logger

__all__ = ["spool_errors", "wait_for_space"]


@contextmanager
def spool_errors(spool: str | Path) -> Iterator[None]:
    """ENOSPC, EDQUOT, EMFILE and ENFILE in the block become LocalResourceExhausted."""
    try:
        yield
    except OSError as exc:
        mapped = local_resource_error(exc, spool)
        if mapped is None:
            raise
        raise mapped from None


def wait_for_space(spool: str | Path, settings: Settings, what: str) -> None:
    """Return once the spool has `spool_min_free_mb` free; wait for it up to
    `spool_wait_seconds`, then raise LocalResourceExhausted (retried like any outage)."""
    need = settings.spool_min_free_mb * 2**20
    deadline = time.monotonic() + settings.spool_wait_seconds
    warned = False
    while True:
        free = shutil.disk_usage(spool).free
        if free >= need:
            return
        left = deadline - time.monotonic()
        if left <= 0:
            raise LocalResourceExhausted(
                f"only {free / 2**20:.0f} MB free on the spool {spool} (REELFLOW_SPOOL_DIR), "
                f"under REELFLOW_SPOOL_MIN_FREE_MB={settings.spool_min_free_mb}, after waiting "
                f"{settings.spool_wait_seconds:.0f} s (REELFLOW_SPOOL_WAIT_SECONDS)"
            )
        if not warned:
            run_logger().warning(
                "Spool %s has %.0f MB free, under %d MB: %s waits for space",
                spool,
                free / 2**20,
                settings.spool_min_free_mb,
                what,
            )
            warned = True
        time.sleep(min(0.5, left))

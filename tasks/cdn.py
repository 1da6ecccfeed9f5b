"""Task: send the owed CDN invalidations (cdn_purge_queue) to the CDN, a batch at a time."""

from __future__ import annotations

from dataclasses import dataclass

from reelflow.adapters.db import cdn_queue
from reelflow.core.cdn import MAX_PATHS, caller_reference
from reelflow.core.errors import CdnUnavailable
from reelflow.services import resources
from tasks.log import run_logger
from tasks.retry import io_task

__all__ = ["CdnOutcome", "invalidate_cdn"]


@dataclass(frozen=True)
class CdnOutcome:
    invalidated: int = 0  # paths the CDN took
    left: int = 0  # paths still owed (the CDN refused or failed; retried next run)
    error: str | None = None


@io_task("invalidate-cdn")
def invalidate_cdn() -> CdnOutcome:
    """Every owed path, in batches; a batch the CDN does not take stays owed with its error,
    and the run goes on (a CDN problem never fails a delete or an import)."""
    purger = resources.purger()
    if purger is None:
        return CdnOutcome()
    engine = resources.engine()
    after, done, left, error = 0, 0, 0, None
    while True:
        rows = cdn_queue.owed_paths(engine, after_id=after, limit=MAX_PATHS)
        if not rows:
            break
        after = rows[-1].id
        paths = [r.path for r in rows]
        try:
            reference = purger.purge(paths, caller_reference(paths))
        except CdnUnavailable as exc:
            error = str(exc)
            left += len(rows)
            cdn_queue.settle_paths(engine, [r.id for r in rows], error)
            run_logger().warning("%d CDN paths stay owed: %s", len(rows), error)
            continue
        cdn_queue.settle_paths(engine, [r.id for r in rows], None)
        done += len(rows)
        run_logger().info("%s invalidation %s: %d paths", purger.name, reference, len(rows))
    return CdnOutcome(invalidated=done, left=left, error=error)

"""cdn_purge_queue: CDN paths owed an invalidation (reelflow.core.cdn, reelflow.adapters.cdn)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection, Engine

from reelflow.adapters.db.engine import db_errors, insert_for
from reelflow.adapters.db.schema import CdnPurgeItem, utcnow
from reelflow.core.cdn import cdn_path

__all__ = ["enqueue_keys", "owed_paths", "settle_paths"]


def enqueue_keys(conn: Connection, keys: Sequence[str]) -> None:
    """Owe an invalidation of these object keys (inside the caller's transaction)."""
    if not keys:
        return
    now = utcnow()
    conn.execute(
        insert_for(conn, CdnPurgeItem.__table__).on_conflict_do_nothing(index_elements=["path"]),
        [{"path": cdn_path(key), "attempts": 0, "created_at": now} for key in sorted(set(keys))],
    )


@db_errors
def owed_paths(engine: Engine, *, after_id: int, limit: int) -> list[Any]:
    """(id, path) of the next owed paths, oldest first."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(CdnPurgeItem.id, CdnPurgeItem.path)
                .where(CdnPurgeItem.id > after_id)
                .order_by(CdnPurgeItem.id)
                .limit(limit)
            ).all()
        )


@db_errors
def settle_paths(engine: Engine, ids: Sequence[int], error: str | None) -> None:
    """Done: remove the rows. Failed: count the attempt and keep the error."""
    with engine.begin() as conn:
        if error is None:
            conn.execute(delete(CdnPurgeItem).where(CdnPurgeItem.id.in_(list(ids))))
        else:
            conn.execute(
                update(CdnPurgeItem)
                .where(CdnPurgeItem.id.in_(list(ids)))
                .values(attempts=CdnPurgeItem.attempts + 1, last_error=error[:2000])
            )

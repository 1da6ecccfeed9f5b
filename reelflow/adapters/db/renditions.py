"""Renditions rows: read their digests, record them after their upload (one transaction with
the asset), and the placeholder."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection

from reelflow.adapters.db.engine import insert_for
from reelflow.adapters.db.schema import Asset, PurgeItem, RenditionRow, utcnow
from reelflow.core.models import StoredRendition
from reelflow.core.placeholder import Placeholder


def digests_of(conn: Connection, asset_ids: Sequence[int]) -> dict[int, dict[tuple[str, str], str]]:
    found: dict[int, dict[tuple[str, str], str]] = {}
    if not asset_ids:
        return found
    for row in conn.execute(
        select(
            RenditionRow.asset_id, RenditionRow.rung, RenditionRow.format, RenditionRow.spec_digest
        ).where(RenditionRow.asset_id.in_(list(asset_ids)))
    ):
        found.setdefault(row.asset_id, {})[(row.rung, row.format)] = row.spec_digest
    return found


def upsert_renditions(
    conn: Connection,
    asset_id: int,
    stored: Sequence[StoredRendition],
    source_sha256: str | None,
    keep: Collection[tuple[str, str]] | None,
) -> None:
    now = utcnow()
    old = {
        (r.rung, r.format): (r.bucket, r.key)
        for r in conn.execute(select(RenditionRow).where(RenditionRow.asset_id == asset_id))
    }
    owed = []
    for one in stored:
        f = one.file
        prev = old.get((f.rung, f.format))
        if prev and prev != (one.bucket, one.key):
            owed.append(prev)
        values = dict(
            bucket=one.bucket,
            key=one.key,
            content_type=f.content_type,
            width=f.width,
            height=f.height,
            bytes=f.bytes,
            sha256=f.sha256,
            spec_digest=f.digest,
            source_sha256=source_sha256,
            updated_at=now,
        )
        ins = insert_for(conn, RenditionRow.__table__).values(
            asset_id=asset_id, rung=f.rung, format=f.format, created_at=now, **values
        )
        conn.execute(
            ins.on_conflict_do_update(index_elements=["asset_id", "rung", "format"], set_=values)
        )
        conn.execute(
            delete(PurgeItem).where(PurgeItem.bucket == one.bucket, PurgeItem.key == one.key)
        )
    if keep is not None:
        for ident, where in old.items():
            if ident not in keep:
                owed.append(where)
                conn.execute(
                    delete(RenditionRow).where(
                        RenditionRow.asset_id == asset_id,
                        RenditionRow.rung == ident[0],
                        RenditionRow.format == ident[1],
                    )
                )
    for bucket, key in owed:
        conn.execute(
            insert_for(conn, PurgeItem.__table__)
            .values(bucket=bucket, key=key, reason="replaced", attempts=0, created_at=now)
            .on_conflict_do_nothing(index_elements=["bucket", "key"])
        )


def set_placeholder(conn: Connection, asset_id: int, placeholder: Placeholder | None) -> None:
    conn.execute(
        update(Asset)
        .where(Asset.id == asset_id)
        .values(
            thumbhash=placeholder.thumbhash if placeholder else None,
            dominant_color=placeholder.color if placeholder else None,
        )
    )

"""Leases in our database: one holder per name at a time, for a bounded time.

`acquire` is one statement on PostgreSQL and SQLite alike: insert the lease, or take it over
when it has lapsed (or is already ours), then read who holds it. A holder renews its lease
while it works; when its process dies the lease lapses after its time-to-live, so a crash
never blocks a movie for longer than that. The database's clock is not used: every holder
writes times from its own clock, in UTC.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, or_, select, update
from sqlalchemy.engine import Engine

from reelflow.adapters.db.engine import db_errors, insert_for
from reelflow.adapters.db.schema import Lease, utcnow

__all__ = ["LeaseState", "acquire", "live", "release", "renew"]


@dataclass(frozen=True)
class LeaseState:
    """Who holds a lease after an attempt to take it."""

    name: str
    holder: str
    label: str
    expires_at: dt.datetime
    ours: bool


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)  # SQLite drops the zone


@db_errors
def acquire(
    engine: Engine,
    name: str,
    holder: str,
    *,
    label: str,
    ttl: float,
    now: dt.datetime | None = None,
    take_from: str | None = None,
) -> LeaseState:
    """Take `name` for `ttl` seconds unless another holder has it; say who holds it.
    `take_from`: a holder known to be dead (its process is gone), whose lease is taken over
    at once instead of after it lapses."""
    now = now or utcnow()
    expires = now + dt.timedelta(seconds=ttl)
    with engine.begin() as conn:
        insert = insert_for(conn, Lease.__table__).values(
            name=name, holder=holder, label=label, acquired_at=now, expires_at=expires
        )
        conn.execute(
            insert.on_conflict_do_update(
                index_elements=["name"],
                set_={
                    "holder": insert.excluded.holder,
                    "label": insert.excluded.label,
                    "acquired_at": insert.excluded.acquired_at,
                    "expires_at": insert.excluded.expires_at,
                },
                where=or_(
                    Lease.__table__.c.expires_at < now,
                    Lease.__table__.c.holder == holder,
                    Lease.__table__.c.holder == (take_from or holder),
                ),
            )
        )
        row = conn.execute(
            select(Lease.holder, Lease.label, Lease.expires_at).where(Lease.name == name)
        ).one()
    return LeaseState(name, row.holder, row.label, _aware(row.expires_at), row.holder == holder)


@db_errors
def renew(engine: Engine, name: str, holder: str, *, ttl: float) -> bool:
    """Extend our lease; False when it is no longer ours (it lapsed and was taken)."""
    with engine.begin() as conn:
        done = conn.execute(
            update(Lease)
            .where(Lease.name == name, Lease.holder == holder)
            .values(expires_at=utcnow() + dt.timedelta(seconds=ttl))
        )
    return bool(done.rowcount)


@db_errors
def release(engine: Engine, name: str, holder: str) -> None:
    """Give our lease back (a lease another holder took over is left alone)."""
    with engine.begin() as conn:
        conn.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))


@db_errors
def live(engine: Engine, prefix: str, now: dt.datetime | None = None) -> list[LeaseState]:
    """The leases whose name starts with `prefix` that have not lapsed (`ours` is False)."""
    now = now or utcnow()
    with engine.connect() as conn:
        rows = conn.execute(
            select(Lease.name, Lease.holder, Lease.label, Lease.expires_at).where(
                Lease.name.startswith(prefix, autoescape=True), Lease.expires_at >= now
            )
        ).all()
    return [LeaseState(r.name, r.holder, r.label, _aware(r.expires_at), False) for r in rows]

"""Dead letters: assets a backfill gave up on (status `abandoned`, see
reelflow.core.rules.after_failure), and re-arming them (`reelflow retry`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine

from reelflow.adapters.db.engine import db_errors
from reelflow.adapters.db.schema import Asset, Episode, Movie, utcnow
from reelflow.core.errors import InputError, MovieNotFound

__all__ = ["Rearmed", "count_abandoned", "rearm"]


@dataclass(frozen=True)
class Rearmed:
    """What `rearm` did: how many abandoned assets it re-armed, and for a single asset that
    was not abandoned, the status it has (nothing to re-arm)."""

    rearmed: int
    asset_status: str | None = None


@db_errors
def count_abandoned(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(Asset).where(Asset.status == "abandoned")
            ).scalar_one()
        )


@db_errors
def rearm(
    engine: Engine,
    *,
    asset_id: int | None = None,
    movie_id: str | None = None,
    all_abandoned: bool = False,
) -> Rearmed:
    """Give abandoned assets back to the backfill: status `failed`, their count of failed
    backfills back to 0 (`attempts` keeps its history), any claim dropped. Exactly one of
    `asset_id`, `movie_id` or `all_abandoned`. An unknown asset or movie is an InputError."""
    if sum((asset_id is not None, movie_id is not None, all_abandoned)) != 1:
        raise InputError("give exactly one of ASSET_ID, --movie MOVIE_ID or --all-abandoned")
    where = [Asset.status == "abandoned"]
    with engine.begin() as conn:
        if asset_id is not None:
            status = conn.execute(select(Asset.status).where(Asset.id == asset_id)).scalar()
            if status is None:
                raise InputError(f"no asset with id {asset_id} (`reelflow status` lists them)")
            if status != "abandoned":
                return Rearmed(0, asset_status=status)
            where.append(Asset.id == asset_id)
        elif movie_id is not None:
            if conn.execute(select(Movie.id).where(Movie.id == movie_id)).first() is None:
                raise MovieNotFound(f"movie {movie_id!r} does not exist")
            where.append(
                Asset.episode_id.in_(select(Episode.id).where(Episode.movie_id == movie_id))
            )
        result = conn.execute(
            update(Asset)
            .where(*where)
            .values(status="failed", backfill_failures=0, claimed_at=None, updated_at=utcnow())
        )
    return Rearmed(int(result.rowcount or 0))

"""Assets a backfill gave up on (status `abandoned`): re-arming them for the next backfill
(`reelflow retry`)."""

from __future__ import annotations

from reelflow.adapters.db import dead_letters
from reelflow.adapters.db.dead_letters import Rearmed
from reelflow.services import resources

__all__ = ["Rearmed", "rearm"]


def rearm(
    *, asset_id: int | None = None, movie_id: str | None = None, all_abandoned: bool = False
) -> Rearmed:
    """Give abandoned assets back to the backfill: one asset, one movie's, or all of them.
    InputError for an unknown asset or none or several choices; MovieNotFound for a movie."""
    return dead_letters.rearm(
        resources.engine(), asset_id=asset_id, movie_id=movie_id, all_abandoned=all_abandoned
    )

"""What the catalog holds, for the entry points (the API, the CLI): reads of movies and assets
on the process's database engine (reelflow.services.resources).

    movie_exists(movie_id)                 is there such a movie
    require_movie(movie_id)                MovieNotFound when there is not
    movie_assets(movie_id, limit, offset)  a page of its asset rows, and every status's count
    asset_counts()                         every asset by status, attention first
    rung_totals(movie_id=None)             what the ladder stored, per rung (`status --costs`)
"""

from __future__ import annotations

from typing import Any

from reelflow.adapters.db import catalog
from reelflow.core.errors import MovieNotFound
from reelflow.services import resources

__all__ = ["asset_counts", "movie_assets", "movie_exists", "require_movie", "rung_totals"]


def movie_exists(movie_id: str) -> bool:
    return catalog.movie_exists(resources.engine(), movie_id)


def require_movie(movie_id: str) -> None:
    """MovieNotFound unless the movie exists."""
    if not movie_exists(movie_id):
        raise MovieNotFound(f"movie {movie_id!r} does not exist")


def movie_assets(movie_id: str, *, limit: int, offset: int = 0) -> tuple[list[Any], dict[str, int]]:
    """A page of the movie's asset rows (number, kind, status, attempts, last_error,
    updated_at) in episode order, and the counts of every status over all of them."""
    return catalog.movie_assets(resources.engine(), movie_id, limit=limit, offset=offset)


def asset_counts() -> dict[str, int]:
    """Assets per status, abandoned first, then failed, then the rest by name."""
    return catalog.asset_counts(resources.engine())


def rung_totals(movie_id: str | None = None) -> dict[str, Any]:
    """Stored renditions per rung and format, thumbnails and previews (one movie or all)."""
    return catalog.rung_totals(resources.engine(), movie_id)

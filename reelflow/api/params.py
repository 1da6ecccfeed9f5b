"""Parameters several routers share: the API's prefix, the page-size cap, a movie id."""

from __future__ import annotations

from reelflow.api.problems import Problem
from reelflow.core.errors import InvalidKey
from reelflow.core.keys import safe_movie_id
from reelflow.settings import get_settings

__all__ = ["API", "page_size", "valid_movie_id"]

API = "/api/v1"


def page_size(limit: int) -> int:
    """`limit`, or a 422 problem when it is over REELFLOW_API_MAX_PAGE_SIZE."""
    cap = get_settings().api_max_page_size
    if limit > cap:
        raise Problem(422, "invalid-request", f"limit {limit} is over the page-size cap {cap}")
    return limit


def valid_movie_id(movie_id: str) -> str:
    """A dependency: the path's movie id, or a 422 problem when it could name a key outside
    its prefix."""
    try:
        return safe_movie_id(movie_id)
    except InvalidKey as exc:
        raise Problem(422, "invalid-request", str(exc)) from None

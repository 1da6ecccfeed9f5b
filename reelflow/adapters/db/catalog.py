"""Database reads for apps and operators: a movie's episode URLs, the stored objects an app is
most likely to ask for next, and the asset counts `reelflow status` shows."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Select, and_, bindparam, case, func, or_, select
from sqlalchemy.engine import Engine

from reelflow.adapters.db.engine import db_errors
from reelflow.adapters.db.schema import Asset, Episode, Movie, RenditionRow
from reelflow.core.costs import RungBytes
from reelflow.core.keys import is_managed_key, parse_s3_url, s3_url
from reelflow.core.reports import ATTENTION, attention_first

__all__ = [
    "movie_exists",
    "asset_counts",
    "movie_episode_urls",
    "movie_renditions",
    "recent_failures",
    "rung_totals",
    "recent_stored_urls",
]


@db_errors
def movie_exists(engine: Engine, movie_id: str) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(Movie.id).where(Movie.id == movie_id)).first() is not None


@db_errors
def movie_episode_urls(
    engine: Engine, movie_id: str, *, limit: int | None = None, offset: int = 0
) -> list[Any]:
    """(number, title, thumbnail_url, video_preview_url) of a movie's episodes, in order; a
    page of them with `limit` and `offset`."""
    query = (
        select(Episode.number, Episode.title, Episode.thumbnail_url, Episode.video_preview_url)
        .where(Episode.movie_id == movie_id)
        .order_by(Episode.number)
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as conn:
        return list(conn.execute(query).all())


@db_errors
def movie_assets(
    engine: Engine, movie_id: str, *, limit: int, offset: int = 0
) -> tuple[list[Any], dict[str, int]]:
    """A page of a movie's asset rows (episode, kind, status, attempts, last_error, updated_at)
    in episode order, and the counts of every status over all of them."""
    page = (
        select(
            Episode.number,
            Asset.kind,
            Asset.status,
            Asset.attempts,
            Asset.last_error,
            Asset.updated_at,
        )
        .join(Episode, Episode.id == Asset.episode_id)
        .where(Episode.movie_id == movie_id)
        .order_by(Episode.number, Asset.kind)
        .limit(limit)
        .offset(offset)
    )
    counts = (
        select(Asset.status, func.count())
        .join(Episode, Episode.id == Asset.episode_id)
        .where(Episode.movie_id == movie_id)
        .group_by(Asset.status)
    )
    with engine.connect() as conn:
        rows = list(conn.execute(page).all())
        totals = {status: int(n) for status, n in conn.execute(counts)}
    return rows, totals


@db_errors
def recent_stored_urls(engine: Engine, top: int, rung_order: Sequence[str] = ()) -> list[str]:
    """s3:// URLs of every episode of the `top` most recently updated movies: newest movie
    first, episodes in order; per episode the thumbnail, the preview, then the thumbnail's
    other renditions (largest first). Temporary URLs and unmanaged keys are left out: there is
    nothing to sign for them."""
    movies = (
        select(Movie.id, Movie.updated_at)
        .order_by(Movie.updated_at.desc(), Movie.id)
        .limit(top)
        .subquery()
    )
    query = (
        select(Episode.id, Episode.thumbnail_url, Episode.video_preview_url)
        .join(movies, movies.c.id == Episode.movie_id)
        .where(or_(Episode.thumbnail_url.like("s3://%"), Episode.video_preview_url.like("s3://%")))
        .order_by(movies.c.updated_at.desc(), movies.c.id, Episode.number)
    )
    renditions_query = (
        select(
            Asset.episode_id,
            RenditionRow.rung,
            RenditionRow.format,
            RenditionRow.width,
            RenditionRow.height,
            RenditionRow.bucket,
            RenditionRow.key,
        )
        .join(RenditionRow, RenditionRow.asset_id == Asset.id)
        .join(Episode, Episode.id == Asset.episode_id)
        .join(movies, movies.c.id == Episode.movie_id)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
        others: dict[int, list[Any]] = {}
        for rendition in conn.execute(renditions_query):
            others.setdefault(rendition.episode_id, []).append(rendition)
    order = _ladder_order(rung_order)
    urls_of = {
        episode: [s3_url(r.bucket, r.key) for r in sorted(found_rows, key=order)]
        for episode, found_rows in others.items()
    }
    found: list[str] = []
    seen: set[str] = set()
    for row in rows:
        for url in (row.thumbnail_url, row.video_preview_url, *urls_of.get(row.id, [])):
            parsed = parse_s3_url(url) if url else None
            if parsed and is_managed_key(parsed[1]) and url not in seen:
                seen.add(url)
                found.append(url)
    return found


@db_errors
def asset_counts(engine: Engine) -> dict[str, int]:
    """Assets per status, abandoned first, then failed, then the rest by name."""
    with engine.connect() as conn:
        rows = conn.execute(select(Asset.status, func.count()).group_by(Asset.status)).all()
    ordered = sorted(rows, key=lambda row: (attention_first(row[0]), row[0]))
    return {status: int(n) for status, n in ordered}


@db_errors
def recent_failures(engine: Engine, limit: int) -> list[Any]:
    """Abandoned assets first, then failed ones, most recent first: asset id (what
    `reelflow retry` takes), status, movie, episode, kind, attempts, failed backfills,
    error, when."""
    rank = case(
        *((Asset.status == status, order) for status, order in ATTENTION.items()),
        else_=len(ATTENTION),
    )
    query = (
        select(
            Asset.id,
            Asset.status,
            Episode.movie_id,
            Episode.number,
            Asset.kind,
            Asset.attempts,
            Asset.backfill_failures,
            Asset.last_error,
            Asset.updated_at,
        )
        .join(Episode, Asset.episode_id == Episode.id)
        .where(Asset.status.in_(list(ATTENTION)))
        .order_by(rank, Asset.updated_at.desc(), Asset.id.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        return list(conn.execute(query).all())


def _ladder_order(rung_order: Sequence[str]) -> Callable[[Any], tuple[int, int, int, str]]:
    """Sort key: largest first; equal sizes (a source smaller than several boxes) in ladder
    order, then WebP before AVIF."""
    position = {name: index for index, name in enumerate(rung_order)}

    def key(row: Any) -> tuple[int, int, int, str]:
        return (-row.width, -row.height, position.get(row.rung, len(position)), row.format[::-1])

    return key


@db_errors
def movie_renditions(
    engine: Engine, movie_id: str, rung_order: Sequence[str] = ()
) -> dict[int, dict[str, Any]]:
    """Per episode number: its thumbnail's placeholder and renditions (largest first), as
    {"thumbhash", "color", "renditions": [(rung, format, bucket, key, content_type, width,
    height), ...]}. Episodes without a stored thumbnail are absent."""
    return movie_media(engine, movie_id, rung_order)["thumbnail"]


# What _media_of reads of a stored asset and each of its renditions (None when it has none).
_MEDIA_COLUMNS = (
    Asset.kind,
    Asset.thumbhash,
    Asset.dominant_color,
    Asset.media,
    Asset.width.label("asset_width"),
    Asset.height.label("asset_height"),
    Asset.content_type.label("asset_type"),
    RenditionRow.rung,
    RenditionRow.format,
    RenditionRow.bucket,
    RenditionRow.key,
    RenditionRow.content_type,
    RenditionRow.width,
    RenditionRow.height,
)


@db_errors
def movie_media(
    engine: Engine,
    movie_id: str,
    rung_order: Sequence[str] = (),
    numbers: Sequence[int] | None = None,
) -> dict[str, dict[int, dict[str, Any]]]:
    """In one query, per kind ("thumbnail", "preview") and episode number, the stored asset's
    renditions (largest first, as in movie_renditions) and facts: "thumbhash", "color",
    "media" (the video probe and what was made: reelflow.core.video), "width", "height",
    "content_type". A ready-made preview has no renditions."""
    query = (
        select(Episode.number, *_MEDIA_COLUMNS)
        .join(Asset, Asset.episode_id == Episode.id)
        .outerjoin(RenditionRow, RenditionRow.asset_id == Asset.id)
        .where(Episode.movie_id == movie_id, Asset.status == "stored")
        .order_by(Episode.number)
    )
    if numbers is not None:  # one page of episodes
        query = query.where(Episode.number.in_(list(numbers)))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    grouped: dict[tuple[str, int], list[Any]] = {}
    for row in rows:
        grouped.setdefault((row.kind, row.number), []).append(row)
    return _media_of(grouped, rung_order)


@db_errors
def movie_page(
    engine: Engine,
    movie_id: str,
    rung_order: Sequence[str] = (),
    *,
    limit: int | None = None,
    offset: int = 0,
) -> tuple[list[Any], dict[str, dict[int, dict[str, Any]]]]:
    """A page of a movie's episodes (as movie_episode_urls) and their stored assets (as
    movie_media), in ONE statement: the page of episodes as a subquery, joined to its stored
    assets and their renditions."""
    with engine.connect() as conn:
        rows = conn.execute(
            _movie_page_statement(),
            {
                "movie_id": movie_id,
                "limit": _NO_LIMIT if limit is None else limit,
                "offset": offset,
            },
        ).all()
    found: list[Any] = []
    seen: set[int] = set()
    grouped: dict[tuple[str, int], list[Any]] = {}
    for row in rows:
        if row.number not in seen:
            seen.add(row.number)
            found.append(row)
        if row.kind is not None:
            grouped.setdefault((row.kind, row.number), []).append(row)
    return found, _media_of(grouped, rung_order)


_NO_LIMIT = 2**62


@functools.cache
def _movie_page_statement() -> Select[Any]:
    """Built once with bound parameters: building it per call was half of a media page's cost
    (`reelflow bench api`), and the same statement object hits SQLAlchemy's compiled cache."""
    episodes = (
        select(
            Episode.id,
            Episode.number,
            Episode.title,
            Episode.thumbnail_url,
            Episode.video_preview_url,
        )
        .where(Episode.movie_id == bindparam("movie_id"))
        .order_by(Episode.number)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
        .subquery("page")
    )
    return (
        select(
            episodes.c.number,
            episodes.c.title,
            episodes.c.thumbnail_url,
            episodes.c.video_preview_url,
            *_MEDIA_COLUMNS,
        )
        .select_from(episodes)
        .outerjoin(Asset, and_(Asset.episode_id == episodes.c.id, Asset.status == "stored"))
        .outerjoin(RenditionRow, RenditionRow.asset_id == Asset.id)
        .order_by(episodes.c.number)
    )


def _media_of(
    grouped: dict[tuple[str, int], list[Any]], rung_order: Sequence[str]
) -> dict[str, dict[int, dict[str, Any]]]:
    order = _ladder_order(rung_order)
    found: dict[str, dict[int, dict[str, Any]]] = {"thumbnail": {}, "preview": {}}
    for (kind, number), episode_rows in grouped.items():
        first = episode_rows[0]
        found.setdefault(kind, {})[number] = {
            "thumbhash": first.thumbhash,
            "color": first.dominant_color,
            "media": first.media,
            "width": first.asset_width,
            "height": first.asset_height,
            "content_type": first.asset_type,
            "renditions": [
                (r.rung, r.format, r.bucket, r.key, r.content_type, r.width, r.height)
                for r in sorted((r for r in episode_rows if r.key is not None), key=order)
            ],
        }
    return found


@db_errors
def rung_totals(engine: Engine, movie_id: str | None = None) -> dict[str, Any]:
    """What is stored, from the database: per (rung, format) the renditions, their bytes and
    their sources' bytes; the stored thumbnails and their sources' bytes; the stored previews
    and their bytes. Over every movie, or one."""
    where_movie = [Episode.movie_id == movie_id] if movie_id else []
    stored = [Asset.status == "stored", *where_movie]
    per_rung = (
        select(
            RenditionRow.rung,
            RenditionRow.format,
            func.count(),
            func.sum(RenditionRow.bytes),
            func.sum(Asset.source_bytes),
        )
        .join(Asset, Asset.id == RenditionRow.asset_id)
        .join(Episode, Episode.id == Asset.episode_id)
        .where(*stored, Asset.kind == "thumbnail")  # preview clips are counted as previews
        .group_by(RenditionRow.rung, RenditionRow.format)
    )
    per_kind = (
        select(Asset.kind, func.count(), func.sum(Asset.source_bytes), func.sum(Asset.bytes))
        .join(Episode, Episode.id == Asset.episode_id)
        .where(*stored)
        .group_by(Asset.kind)
    )
    with engine.connect() as conn:
        rungs = [
            RungBytes(rung, fmt, int(n), int(size or 0), int(source or 0))
            for rung, fmt, n, size, source in conn.execute(per_rung)
        ]
        kinds = {
            kind: (int(n), int(src or 0), int(size or 0))
            for kind, n, src, size in conn.execute(per_kind)
        }
    rungs.sort(key=lambda r: (-r.bytes / max(r.count, 1), r.format[::-1]))
    thumbnails = kinds.get("thumbnail", (0, 0, 0))
    previews = kinds.get("preview", (0, 0, 0))
    return {
        "rungs": rungs,
        "thumbnails": thumbnails[0],
        "thumbnail_source_bytes": thumbnails[1],
        "previews": previews[0],
        "preview_bytes": previews[2],
    }

"""A movie on a local origin, and the import flow run on it: the one `serve_movie` every suite
uses, the media it serves, and what the tests read back (rows, objects).

Heavy imports (Prefect, SQLAlchemy) happen inside the helpers that need them, so the e2e
conftest can import this module before its Prefect settings are in place.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tests.support.s3_client import s3_client

if TYPE_CHECKING:
    from reelflow.devtools.origin import Fault, Origin

# What an asset is served as, by kind: (file name on the origin, content type).
SERVED = {"thumbnail": ("thumb.jpg", "image/jpeg"), "preview": ("preview.webm", "video/webm")}


@functools.cache
def jpeg(seed: int, width: int = 1600, height: int = 900) -> bytes:
    """A photo-like JPEG (cached: the same arguments give the same bytes)."""
    from reelflow.devtools.media import photo_jpeg

    return photo_jpeg(width=width, height=height, seed=seed)


@functools.cache
def webm(seed: int, seconds: float = 0.5) -> bytes:
    """A real VP8 WebM preview clip (cached)."""
    from reelflow.devtools.media import preview_webm

    return preview_webm(seconds=seconds, seed=seed)


def media(number: int) -> tuple[bytes, bytes]:
    """Episode `number`'s (thumbnail, preview) bytes as `serve_movie` serves them by default."""
    return jpeg(number), webm(number)


def serve_movie(
    origin: Origin,
    movie_id: str,
    episodes: int | Iterable[int],
    faults: Mapping[tuple[int, str], Sequence[Fault]] | None = None,
    *,
    size: tuple[int, int] = (1600, 900),
    preview_seconds: float = 0.5,
    seed: int | None = None,
    previews: bool = True,
    host: str | None = None,
    token: str | None = "secret-token",
    every_asset: Sequence[Fault] = (),
) -> dict[str, Any]:
    """Serve a movie's media on `origin`; return its manifest (a dict, as a client sends it).

    episodes         a count (episodes 1..n) or the episode numbers themselves
    faults           {(number, "thumbnail" | "preview"): [Fault, ...]} for chosen assets
    every_asset      faults for every asset, after its own ones from `faults`
    size             the thumbnails' (width, height); JPEG, photo-like
    preview_seconds  the previews' length; VP8 WebM
    seed             other bytes for the same movie: media seeds become seed * 100 + number and
                     the paths carry the seed (/movie/seed/n/...); None: seeds are the numbers
    previews         False: thumbnails only (no video_preview_url in the manifest)
    host             the host name the manifest's URLs use (the origin listens on 127.0.0.1);
                     None: the origin's own address
    token            the thumbnail URLs end in ?sig=<token> (a stand-in for a signed CDN URL,
                     which must never reach logs or the database); None: no query string

    Paths are /<movie_id>[/<seed>]/<n>/thumb.jpg and .../preview.webm.
    """
    numbers = range(1, episodes + 1) if isinstance(episodes, int) else list(episodes)
    faults = faults or {}
    width, height = size
    base = origin.base_url if host is None else origin.base_url.replace(origin.host, host, 1)
    prefix = f"/{movie_id}" if seed is None else f"/{movie_id}/{seed}"
    data: dict[str, Any] = {"movie_id": movie_id, "title": movie_id.title(), "episodes": []}
    for n in numbers:
        media_seed = n if seed is None else seed * 100 + n
        bodies = {
            "thumbnail": jpeg(media_seed, width, height),
            "preview": webm(media_seed, preview_seconds),
        }
        episode: dict[str, Any] = {"number": n, "title": f"Episode {n}"}
        for kind in ("thumbnail", "preview") if previews else ("thumbnail",):
            name, content_type = SERVED[kind]
            path = f"{prefix}/{n}/{name}"
            own = [*faults.get((n, kind), []), *every_asset]
            origin.add(path, bodies[kind], content_type, faults=own)
            url = base + path
            if kind == "thumbnail":
                episode["thumbnail_url"] = url + (f"?sig={token}" if token else "")
            else:
                episode["video_preview_url"] = url
        data["episodes"].append(episode)
    return data


def run_import(data: dict[str, Any]) -> tuple[Any, Any]:
    """Run the import flow in this process on manifest `data`: (final state, its summary)."""
    from flows.import_episodes import import_episodes
    from reelflow.core.manifest import parse_manifest
    from reelflow.services.manifests import stash_manifest

    ref = stash_manifest(parse_manifest(data))
    state = import_episodes(manifest_ref=ref, return_state=True)
    return state, state.result(raise_on_failure=False)


def db_state(movie_id: str) -> tuple[list[Any], dict[tuple[int, str], Any]]:
    """The movie's episode rows (by number) and asset rows by (number, kind), detached."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from reelflow.adapters.db.schema import Asset, Episode
    from reelflow.services import resources

    with Session(resources.engine()) as session:
        episodes = session.scalars(
            select(Episode).where(Episode.movie_id == movie_id).order_by(Episode.number)
        ).all()
        assets = {
            (a.episode.number, a.kind): a
            for a in session.scalars(
                select(Asset).join(Episode).where(Episode.movie_id == movie_id)
            )
        }
        for a in assets.values():
            session.expunge(a)
        for e in episodes:
            session.expunge(e)
    return list(episodes), assets


def objects(prefix: str = "") -> dict[str, dict[str, Any]]:
    """The test bucket's objects under `prefix` (first page), by key."""
    from reelflow.settings import get_settings

    s3 = s3_client()
    bucket = get_settings().s3_bucket_name
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"]: o for o in listed}

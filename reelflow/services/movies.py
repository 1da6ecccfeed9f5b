"""A movie, for apps and the entry points: a page of its media, and deleting it.

    media_page(movie_id, limit, offset)  its episodes as an app renders them; MovieNotFound
    deletion_preview(movie_id)           (episodes, stored objects) a delete would remove
    delete_movie(movie_id, launcher=...) -> DeleteResult

Deleting:

1. One transaction removes the movie, its episodes and asset rows and writes every managed
   object key they reference (asset bucket/key, episode s3:// URLs that pass
   keys.is_managed_key) into purge_queue. After the commit no key can be forgotten: whatever
   happens to the purge, the next purge-objects or orphan-cleanup run deletes it.
2. The objects are then purged by the `launcher` (a PurgeLauncher, injected: this layer
   knows no flow; deployments.launch.PrefectPurgeLauncher runs the purge-objects flow),
   without the caller waiting:
   - if the launcher can submit to a deployment ("purge-objects/purge" on a Prefect API), a
     flow run is submitted and a worker runs it;
   - otherwise the purge runs in a daemon thread of this process (`fallback="thread"`), or the
     keys are left queued for the next purge/sweep (`fallback="queue"`, what the CLI uses for
     --no-wait: a daemon thread would die with the CLI process).
   With `wait=True` the purge runs here and now, and its report is returned. With
   `launcher=None` the keys stay queued (handoff "queued").
"""

from __future__ import annotations

import contextvars
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from reelflow.adapters.db import catalog, purge_queue
from reelflow.core.errors import ConfigurationError, MovieNotFound
from reelflow.core.keys import s3_url
from reelflow.core.reports import PurgeReport
from reelflow.services import resources, urls
from reelflow.settings import Settings

__all__ = ["DeleteResult", "PurgeLauncher", "deletion_preview", "delete_movie", "media_page"]

Handoff = Literal["inline", "deployment", "thread", "queued", "nothing"]
logger = logging.getLogger(__name__)


def media_page(movie_id: str, *, limit: int, offset: int = 0) -> list[dict[str, Any]]:
    """A page of the movie's episodes as an app renders them (reelflow.services.urls
    .episode_media: renditions, placeholder, preview, every URL resolved in one cache round
    trip). An empty page of a movie that exists is a page past its end; MovieNotFound when
    there is no such movie."""
    episodes = urls.episode_media(movie_id, limit=limit, offset=offset)
    if not episodes and not catalog.movie_exists(resources.engine(), movie_id):
        raise MovieNotFound(f"movie {movie_id!r} does not exist")
    return episodes


def deletion_preview(movie_id: str) -> tuple[int, int]:
    """(episodes, stored objects) deleting the movie would remove; MovieNotFound when none."""
    episodes = catalog.movie_episode_urls(resources.engine(), movie_id)
    if not episodes:
        raise MovieNotFound(f"movie {movie_id!r} does not exist")
    stored = sum(
        1
        for episode in episodes
        for url in (episode.thumbnail_url, episode.video_preview_url)
        if url and url.startswith("s3://")
    )
    return len(episodes), stored


class PurgeLauncher(Protocol):
    """Who purges the queued keys of a deleted movie."""

    def run(self, keys: list[str]) -> tuple[PurgeReport | None, str | None]:
        """Purge now, here; (report, None) or (None, why it did not finish)."""
        ...

    def submit(self, keys: list[str]) -> str | None:
        """Hand the purge to a worker; the flow run id, or None if there is none to hand to."""
        ...


@dataclass
class DeleteResult:
    """What delete_movie did. `handoff` says who purges the objects:

    inline      purged before returning (`purge` holds the report)
    deployment  a purge-objects flow run was submitted (`flow_run_id`)
    thread      a background thread in this process is purging (`join()` waits for it)
    queued      left in purge_queue for the next purge-objects / orphan-cleanup run
    nothing     the movie had no stored objects
    """

    movie_id: str
    episodes: int
    assets: int
    queued: list[str]  # s3://bucket/key written to purge_queue
    unmanaged: list[str]  # referenced but outside the managed prefixes: left alone
    handoff: Handoff
    flow_run_id: str | None = None
    purge: PurgeReport | None = None
    purge_error: str | None = None
    _thread: threading.Thread | None = field(default=None, repr=False, compare=False)
    _box: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def join(self, timeout: float | None = None) -> PurgeReport | None:
        """Wait for a background purge (handoff 'thread') and return its report."""
        if self._thread is not None:
            self._thread.join(timeout)
            self.purge = self._box.get("report", self.purge)
            self.purge_error = self._box.get("error", self.purge_error)
        return self.purge


def _in_thread(launcher: PurgeLauncher, keys: list[str], box: dict[str, Any]) -> None:
    try:
        box["report"], error = launcher.run(keys)
        if error:
            box["error"] = error
    except Exception as exc:  # the keys stay queued: the next purge or sweep deletes them
        logger.exception("background purge failed; its keys stay in purge_queue")
        box["error"] = f"{type(exc).__name__}: {exc}"


def delete_movie(
    movie_id: str,
    *,
    launcher: PurgeLauncher | None,
    wait: bool = False,
    fallback: Literal["thread", "queue"] = "thread",
    settings: Settings | None = None,
) -> DeleteResult:
    """Delete a movie with its episodes and assets, and purge its objects from S3.

    `launcher` purges the queued keys; None leaves them queued for the next purge-objects or
    orphan-cleanup run (and cannot `wait`). Raises MovieNotFound if there is no such movie.
    The rows and the purge_queue entries are committed together before this returns; see the
    module docstring for the purge.
    """
    if wait and launcher is None:
        raise ConfigurationError("delete_movie(wait=True) needs a launcher to purge with")
    deletion = purge_queue.delete_movie_rows(resources.engine(settings), movie_id)
    if not deletion.found:
        raise MovieNotFound(f"movie {movie_id!r} does not exist")
    keys = sorted({key for _, key in deletion.queued})
    result = DeleteResult(
        movie_id=movie_id,
        episodes=deletion.episodes,
        assets=deletion.assets,
        queued=[s3_url(b, k) for b, k in deletion.queued],
        unmanaged=[s3_url(b, k) for b, k in deletion.unmanaged],
        handoff="nothing",
    )
    if not keys:
        return result
    if launcher is None:
        result.handoff = "queued"
        return result
    if wait:
        result.purge, result.purge_error = launcher.run(keys)
        result.handoff = "inline"
        return result
    flow_run_id = launcher.submit(keys)
    if flow_run_id is not None:
        result.handoff, result.flow_run_id = "deployment", flow_run_id
        return result
    if fallback == "queue":
        result.handoff = "queued"
        return result
    context = contextvars.copy_context()  # Prefect's settings and client context go along
    thread = threading.Thread(
        target=context.run,
        args=(_in_thread, launcher, keys, result._box),
        name=f"reelflow-purge-{movie_id}",
        daemon=True,
    )
    result.handoff, result._thread = "thread", thread
    thread.start()
    return result

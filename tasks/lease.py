"""One import or backfill per movie at a time: the movie's lease in our database.

Two imports of one movie used to download and compress every asset twice and upload some
objects twice. A run now takes the movie's lease first (`take_movie_leases`, a task: it shows in
the UI), keeps it renewed from a background thread while it works (`holding`), and gives it
back at the end. A run that dies stops renewing, so its lease lapses after
REELFLOW_MOVIE_LEASE_SECONDS; one that died on this machine (its pid is gone) is taken over at
once, so a re-run after a crash need not wait. The lease lives in our database, not in
Prefect: two zero-config CLI imports each have a Prefect server of their own, but they share
the database.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial

from reelflow.adapters.db import leases
from reelflow.core.errors import MovieBusy, ReelflowError
from reelflow.services import resources
from reelflow.settings import get_settings
from tasks.log import run_logger
from tasks.outage import ride_out
from tasks.retry import io_task

__all__ = ["dead_local_holder", "holding", "lease_name", "new_holder", "take_movie_leases"]


def lease_name(movie_id: str, holder: str | None = None) -> str:
    """An import's lease of a movie, or (with `holder`) one backfill's share of it."""
    if holder is None:
        return f"movie:{movie_id}"
    return f"backfill:{movie_id}:{hashlib.sha256(holder.encode()).hexdigest()[:16]}"


def new_holder() -> str:
    """A holder id unique to this run in this process: host, pid and a random part."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def dead_local_holder(holder: str) -> bool:
    """True when `holder` (host:pid:...) was a process on this machine that is gone: a run
    killed here (SIGKILL, OOM) is taken over at once, not after its lease lapses."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname()[:80] or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def _busy(movie_id: str, state: leases.LeaseState) -> MovieBusy:
    who = state.label or state.holder
    return MovieBusy(
        f"movie {movie_id} is being worked on by {who} (its lease runs until "
        f"{state.expires_at:%Y-%m-%d %H:%M:%S} UTC unless that run renews it): nothing was "
        "done; run again when it has finished"
    )


def _take(name: str, holder: str, label: str) -> leases.LeaseState:
    """Take lease `name`, taking it over at once from a holder whose process is gone."""
    settings = get_settings()
    take = partial(
        leases.acquire,
        resources.engine(),
        name,
        holder,
        label=label,
        ttl=settings.movie_lease_seconds,
    )
    state = ride_out("database", take)
    if not state.ours and dead_local_holder(state.holder):
        run_logger().info("Taking over %s from %s: its process is gone", name, state.label)
        state = ride_out("database", partial(take, take_from=state.holder))
    return state


def _other(prefix: str) -> leases.LeaseState | None:
    """A live lease under `prefix` whose process is not known to be gone, if any."""
    found = ride_out("database", partial(leases.live, resources.engine(), prefix))
    return next((state for state in found if not dead_local_holder(state.holder)), None)


def _give_back(name: str, holder: str) -> None:
    ride_out("database", partial(leases.release, resources.engine(), name, holder))


def _try(movie_id: str, holder: str, label: str, shared: bool) -> leases.LeaseState | None:
    """One attempt at a movie: None when taken, else the lease of the run in the way.

    An import (exclusive) holds `movie:<id>` and needs no backfill on the movie; a backfill
    (shared: backfills split a movie's assets between them through their claims) holds a row
    of its own and needs no import on the movie. Each writes its lease first and then looks
    for the other kind, so two runs starting at once may both step back, never both go on."""
    name = lease_name(movie_id, holder if shared else None)
    state = _take(name, holder, label)
    if not state.ours:
        return state
    other = _other(lease_name(movie_id) if shared else f"backfill:{movie_id}:")
    if other is None:
        return None
    _give_back(name, holder)
    return other


@io_task("take-movie-leases")
def take_movie_leases(
    movie_ids: Sequence[str],
    holder: str,
    label: str,
    *,
    wait: bool = True,
    shared: bool = False,
) -> list[str]:
    """Take each movie's lease; return the movies taken. With `wait`, wait up to
    REELFLOW_MOVIE_LEASE_WAIT for a busy movie, then raise MovieBusy; without, skip it.
    `shared`: a backfill's lease, which other backfills share (see `_try`)."""
    settings = get_settings()
    taken: list[str] = []
    for movie_id in movie_ids:
        deadline = time.monotonic() + (settings.movie_lease_wait if wait else 0)
        while True:
            in_the_way = _try(movie_id, holder, label, shared)
            if in_the_way is None:
                taken.append(movie_id)
                break
            if time.monotonic() >= deadline:
                if wait:
                    raise _busy(movie_id, in_the_way)
                run_logger().info("Skipping movie %s: %s holds it", movie_id, in_the_way.label)
                break
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
    return taken


def _keep(names: Sequence[str], holder: str, stop: threading.Event) -> None:
    ttl = get_settings().movie_lease_seconds
    engine = resources.engine()
    while not stop.wait(ttl / 3):
        for name in names:
            try:
                if not leases.renew(engine, name, holder, ttl=ttl):
                    run_logger().warning(
                        "Lost the lease %s: it lapsed and another run took it", name
                    )
            except ReelflowError as exc:  # the database is down: try again next time
                run_logger().warning("Could not renew the lease %s: %s", name, exc)


@contextmanager
def holding(movie_ids: Sequence[str], holder: str, *, shared: bool = False) -> Iterator[None]:
    """Keep the leases of `movie_ids` (already taken by `holder`) renewed until the block
    ends, then give them back; one the database cannot take back now lapses on its own."""
    names = [lease_name(movie_id, holder if shared else None) for movie_id in movie_ids]
    stop = threading.Event()
    keeper = threading.Thread(target=_keep, args=(names, holder, stop), daemon=True)
    keeper.start()
    try:
        yield
    finally:
        stop.set()
        keeper.join()
        engine = resources.engine()
        for name in names:
            try:
                leases.release(engine, name, holder)
            except ReelflowError as exc:
                run_logger().warning("Could not give back the lease %s (it lapses): %s", name, exc)

"""Purge-queue rules, pure: which owed keys may be deleted, and batching.

purge_queue is an outbox: the transaction that orphans a key (deleting a movie, replacing an
asset) writes its row, so a crash never forgets one. `plan_purge` decides, for a batch of rows,
what the purge may delete; the purge-objects flow and the orphan sweep act on the plan.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from reelflow.core.keys import is_managed_key

__all__ = ["MovieDeletion", "OwedKey", "PurgePlan", "batched", "plan_purge"]

T = TypeVar("T")


@dataclass(frozen=True)
class OwedKey:
    """One purge_queue row."""

    id: int
    bucket: str
    key: str


@dataclass(frozen=True)
class PurgePlan:
    delete: list[OwedKey]  # owed, managed, unreferenced: delete the object
    revived: list[OwedKey]  # referenced again since it was queued: drop the row, keep the object
    refused: list[OwedKey]  # not a managed key: never touched, the row stays with an error


def plan_purge(rows: Iterable[OwedKey], referenced: Collection[tuple[str, str]]) -> PurgePlan:
    """Split queued keys into what may be deleted and what must not be."""
    delete: list[OwedKey] = []
    revived: list[OwedKey] = []
    refused: list[OwedKey] = []
    for row in rows:
        if (row.bucket, row.key) in referenced:
            revived.append(row)
        elif not is_managed_key(row.key):
            refused.append(row)
        else:
            delete.append(row)
    return PurgePlan(delete=delete, revived=revived, refused=refused)


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of at most `size` items, in order (the last one may be shorter)."""
    if size < 1:
        raise ValueError(f"batch size must be >= 1, not {size}")
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass(frozen=True)
class MovieDeletion:
    """What deleting a movie's rows did, in its one transaction."""

    movie_id: str
    found: bool
    episodes: int = 0
    assets: int = 0
    queued: tuple[tuple[str, str], ...] = ()  # (bucket, key) written to purge_queue
    unmanaged: tuple[tuple[str, str], ...] = ()  # referenced but not ours: never touched

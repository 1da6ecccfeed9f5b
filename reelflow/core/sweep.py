"""Orphan-sweep rules, pure: which listed objects may go and whether a sweep may delete.

The orphan-cleanup flow feeds these functions what it listed and looked up, and acts on the
answer. Every rule that decides whether an object may be deleted lives here (and, for the purge
queue, in reelflow.core.purge) and is tested with plain tables (tests/unit/test_cleanup_rules.py).

A listed object falls in exactly one category (`classify`):

    live     an asset row or an episode's s3:// URL references it        never deleted
    foreign  not of the exact shape reelflow writes (keys.is_managed_key)  never deleted
    owed     in purge_queue: a committed DB change orphaned it             deleted (no grace)
    young    unreferenced but modified after the cut-off (grace period)   kept: may be in flight
    orphan   unreferenced, managed, older than the cut-off                 deleted, within the cap

The safety cap (`decide_cap`) is decided on the whole census before anything is deleted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Literal

from reelflow.core.keys import is_managed_key

__all__ = [
    "CATEGORIES",
    "DESCRIPTIONS",
    "CapDecision",
    "Category",
    "Census",
    "ListedObject",
    "Tally",
    "as_utc",
    "classify",
    "cutoff_for",
    "decide_cap",
    "movie_of",
    "within_budget",
]

Category = Literal["live", "owed", "young", "orphan", "foreign"]
CATEGORIES: tuple[Category, ...] = ("live", "owed", "young", "orphan", "foreign")
DESCRIPTIONS: dict[Category, str] = {
    "live": "referenced by an asset row or an episode URL (kept)",
    "owed": "queued in purge_queue by a committed change (deleted, no grace)",
    "young": "unreferenced but newer than the cut-off (kept: may be in flight)",
    "orphan": "unreferenced and older than the cut-off (deleted within the cap)",
    "foreign": "not a key reelflow writes (reported, never deleted)",
}


def as_utc(moment: dt.datetime) -> dt.datetime:
    """The same instant in UTC; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def cutoff_for(now: dt.datetime, grace_hours: float) -> dt.datetime:
    """Objects modified after this instant are young (kept); at or before it they may go."""
    if grace_hours < 0:
        raise ValueError(f"grace_hours must be >= 0, not {grace_hours}")
    return as_utc(now) - dt.timedelta(hours=grace_hours)


@dataclass(frozen=True, slots=True)
class ListedObject:
    """One object as a listing reports it."""

    key: str
    size: int
    last_modified: dt.datetime


def movie_of(key: str) -> str | None:
    """The movie id a managed key belongs to, or None for any other key."""
    if not is_managed_key(key):
        return None
    return key.split("/", 2)[1]


def classify(
    obj: ListedObject,
    *,
    referenced: Collection[str],
    owed: Collection[str],
    cutoff: dt.datetime,
) -> Category:
    """The one category `obj` falls in (see the module docstring)."""
    if obj.key in referenced:
        return "live"
    if not is_managed_key(obj.key):
        return "foreign"
    if obj.key in owed:
        return "owed"
    if as_utc(obj.last_modified) > cutoff:
        return "young"
    return "orphan"


@dataclass
class Tally:
    """Count, bytes and a few sample keys of one category: constant memory however many."""

    count: int = 0
    bytes: int = 0
    samples: list[str] = field(default_factory=list)

    def add(self, obj: ListedObject, sample_limit: int) -> None:
        self.count += 1
        self.bytes += obj.size
        if len(self.samples) < sample_limit:
            self.samples.append(obj.key)


@dataclass
class Census:
    """What a listing found, per category. Holds tallies, never the keys themselves."""

    sample_limit: int = 10
    tallies: dict[Category, Tally] = field(default_factory=lambda: {c: Tally() for c in CATEGORIES})

    def add(self, obj: ListedObject, category: Category) -> None:
        self.tallies[category].add(obj, self.sample_limit)

    @property
    def listed(self) -> int:
        return sum(t.count for t in self.tallies.values())

    @property
    def listed_bytes(self) -> int:
        return sum(t.bytes for t in self.tallies.values())

    @property
    def managed(self) -> int:
        """Listed objects that are not foreign (live, owed, young and orphan ones)."""
        return self.listed - self.tallies["foreign"].count

    def count(self, category: Category) -> int:
        return self.tallies[category].count


@dataclass(frozen=True)
class CapDecision:
    allowed: bool
    reason: str
    fraction: float  # orphans / listed
    forced: bool = False


def decide_cap(
    *,
    listed: int,
    managed: int,
    live: int,
    orphans: int,
    references: int,
    max_fraction: float,
    force: bool,
) -> CapDecision:
    """May a sweep delete `orphans` of the `listed` objects? Decided before deleting anything.

    Two guards against reading the wrong or an empty database, which `force` never lifts:
    the database holds no reference to this bucket (`references` == 0: asset rows with a key
    plus episode s3:// URLs), or it references none of the `managed` objects listed
    (`live` == 0). Then more than `max_fraction` of the listed objects is refused unless
    `force`.
    """
    if not 0 < max_fraction <= 1:
        raise ValueError(f"max_fraction must be in (0, 1], not {max_fraction}")
    if (
        min(listed, managed, live, orphans, references) < 0
        or managed > listed
        or live + orphans > managed
    ):
        raise ValueError("inconsistent census counts")
    fraction = orphans / listed if listed else 0.0
    if managed and references == 0:
        return CapDecision(
            False,
            f"refusing to sweep: the database records no objects in this bucket while the "
            f"bucket holds {managed} managed objects - is this the wrong or an empty database? "
            "(--force does not override this)",
            fraction,
        )
    if managed and live == 0:
        return CapDecision(
            False,
            f"refusing to sweep: the database references none of the {managed} managed objects "
            "listed - is this the wrong database? (--force does not override this)",
            fraction,
        )
    if orphans == 0:
        return CapDecision(True, "nothing to delete", fraction)
    share = f"{orphans} of {listed} listed objects ({fraction:.1%})"
    if fraction > max_fraction:
        if force:
            return CapDecision(
                True, f"{share} exceeds the {max_fraction:.1%} cap: forced", fraction, forced=True
            )
        return CapDecision(
            False,
            f"refusing to sweep: it would delete {share}, more than the {max_fraction:.1%} cap; "
            "check the database and bucket, then re-run with --force if this is expected",
            fraction,
        )
    return CapDecision(True, f"{share} is within the {max_fraction:.1%} cap", fraction)


def within_budget(keys: Sequence[str], remaining: int) -> tuple[list[str], list[str]]:
    """(keys to delete now, keys deferred): the second pass never deletes more than approved."""
    take = max(0, remaining)
    return list(keys[:take]), list(keys[take:])

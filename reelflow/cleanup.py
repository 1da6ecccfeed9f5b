"""Cleanup rules, pure: which listed objects may go, whether a sweep may delete, batching.

No Prefect, boto3 or SQLAlchemy here: the flows feed these functions what they listed and
looked up, and act on the answer. Every rule that decides whether an object may be deleted
lives in this module and is tested with plain tables (tests/unit/test_cleanup_rules.py).

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
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from pydantic import BaseModel, Field

from reelflow.errors import TerminalError
from reelflow.keys import MANAGED_PREFIXES, is_managed_key

__all__ = [
    "CATEGORIES",
    "CLAIM_TTL",
    "BackfillLine",
    "BackfillReport",
    "CapDecision",
    "Category",
    "CategoryLine",
    "Census",
    "ListedObject",
    "MovieDeletion",
    "OwedKey",
    "PurgeFailure",
    "PurgePlan",
    "PurgeReport",
    "SweepRefused",
    "SweepReport",
    "Tally",
    "as_utc",
    "batched",
    "classify",
    "cutoff_for",
    "decide_cap",
    "movie_of",
    "pick_source_url",
    "plan_purge",
    "within_budget",
]

T = TypeVar("T")

Category = Literal["live", "owed", "young", "orphan", "foreign"]
CATEGORIES: tuple[Category, ...] = ("live", "owed", "young", "orphan", "foreign")
DESCRIPTIONS: dict[Category, str] = {
    "live": "referenced by an asset row or an episode URL (kept)",
    "owed": "queued in purge_queue by a committed change (deleted, no grace)",
    "young": "unreferenced but newer than the cut-off (kept: may be in flight)",
    "orphan": "unreferenced and older than the cut-off (deleted within the cap)",
    "foreign": "not a key reelflow writes (reported, never deleted)",
}


class SweepRefused(TerminalError):
    """The safety cap refused a sweep: nothing was deleted. `decision` says why."""

    def __init__(self, decision: CapDecision, report: SweepReport | None = None) -> None:
        super().__init__(decision.reason)
        self.decision = decision
        self.report = report


# --- time --------------------------------------------------------------------------------


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


# --- classification ----------------------------------------------------------------------


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


# --- the safety cap ----------------------------------------------------------------------


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


# --- purge -------------------------------------------------------------------------------


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


# --- backfill ----------------------------------------------------------------------------

# A backfill claim older than this is considered abandoned (its worker died) and may be
# claimed again. Claims are released at the end of every batch, so this only matters after
# a crash.
CLAIM_TTL = dt.timedelta(hours=2)


def pick_source_url(
    current_url: str | None, episode_source_url: str | None, asset_source_url: str | None
) -> str | None:
    """The temporary URL to import from: the one the episode last received, else the
    episode's current URL if it is still temporary, else the one the asset row remembers."""
    for url in (episode_source_url, current_url, asset_source_url):
        if url and not url.startswith("s3://"):
            return url
    return None


# --- reports -----------------------------------------------------------------------------


def _mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB"


class PurgeFailure(BaseModel):
    bucket: str
    key: str
    error: str


class PurgeReport(BaseModel):
    """What a purge did. Keys it could not delete stay in purge_queue for the next run."""

    considered: int = 0
    deleted: int = 0
    failed: int = 0
    revived: int = 0
    refused: int = 0
    batches: int = 0
    seconds: float = 0.0
    failures: list[PurgeFailure] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.refused == 0

    def headline(self) -> str:
        text = f"Cleaned up {self.deleted} files from S3"
        if self.failed:
            text += f"; {self.failed} could not be deleted (kept in purge_queue for a retry)"
        if self.revived:
            text += f"; {self.revived} are in use again (kept)"
        if self.refused:
            text += f"; {self.refused} refused (not a managed key)"
        return text

    def merge(self, other: PurgeReport, failure_limit: int = 100) -> PurgeReport:
        return PurgeReport(
            considered=self.considered + other.considered,
            deleted=self.deleted + other.deleted,
            failed=self.failed + other.failed,
            revived=self.revived + other.revived,
            refused=self.refused + other.refused,
            batches=self.batches + other.batches,
            seconds=round(self.seconds + other.seconds, 3),
            failures=(self.failures + other.failures)[:failure_limit],
        )


class CategoryLine(BaseModel):
    category: str
    meaning: str
    count: int
    bytes: int
    samples: list[str]


class SweepReport(BaseModel):
    """A sweep's census, its cap decision and, when executed, what it deleted."""

    bucket: str
    prefixes: list[str] = Field(default_factory=lambda: list(MANAGED_PREFIXES))
    executed: bool
    now: dt.datetime
    cutoff: dt.datetime
    grace_hours: float
    max_fraction: float
    force: bool
    references: int
    listed: int
    listed_bytes: int
    categories: list[CategoryLine]
    allowed: bool
    decision: str
    fraction: float
    deleted: int = 0
    deleted_bytes: int = 0
    failed: int = 0
    deferred: int = 0
    failures: list[PurgeFailure] = Field(default_factory=list)
    owed_purge: PurgeReport | None = None
    seconds: float = 0.0

    def category(self, name: Category) -> CategoryLine:
        return next(line for line in self.categories if line.category == name)

    def headline(self) -> str:
        orphans = self.category("orphan")
        where = f"of {self.listed} listed objects in {self.bucket}"
        if not self.executed:
            verdict = "the cap allows it" if self.allowed else f"REFUSED: {self.decision}"
            return (
                f"Dry run: would delete {orphans.count} orphans ({_mb(orphans.bytes)}) {where} "
                f"({self.fraction:.1%}) and {self.category('owed').count} owed objects; "
                f"{verdict}"
            )
        text = f"Deleted {self.deleted} orphans ({_mb(self.deleted_bytes)}) {where}"
        if self.owed_purge is not None:
            text += f"; purge queue: {self.owed_purge.headline()}"
        if self.failed:
            text += f"; {self.failed} could not be deleted (queued for a retry)"
        if self.deferred:
            text += f"; {self.deferred} new orphans deferred to the next sweep"
        return text

    @classmethod
    def from_census(
        cls,
        census: Census,
        decision: CapDecision,
        *,
        bucket: str,
        executed: bool,
        now: dt.datetime,
        cutoff: dt.datetime,
        grace_hours: float,
        max_fraction: float,
        force: bool,
        references: int,
    ) -> SweepReport:
        return cls(
            bucket=bucket,
            executed=executed,
            now=as_utc(now),
            cutoff=cutoff,
            grace_hours=grace_hours,
            max_fraction=max_fraction,
            force=force,
            references=references,
            listed=census.listed,
            listed_bytes=census.listed_bytes,
            categories=[
                CategoryLine(
                    category=name,
                    meaning=DESCRIPTIONS[name],
                    count=tally.count,
                    bytes=tally.bytes,
                    samples=list(tally.samples),
                )
                for name, tally in census.tallies.items()
            ],
            allowed=decision.allowed,
            decision=decision.reason,
            fraction=round(decision.fraction, 6),
        )


class BackfillLine(BaseModel):
    movie_id: str
    episode: int
    kind: str
    status: str
    key: str | None = None
    error: str | None = None


class BackfillReport(BaseModel):
    dry_run: bool
    candidates: int
    claimed: int = 0
    stored: int = 0
    uploaded: int = 0
    skipped: int = 0
    failed: int = 0
    batches: int = 0
    seconds: float = 0.0
    lines: list[BackfillLine] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def headline(self) -> str:
        if self.dry_run:
            return f"Dry run: {self.candidates} assets need a backfill"
        return (
            f"Backfill: {self.claimed} assets claimed - {self.stored} stored "
            f"({self.uploaded} uploaded), {self.skipped} already stored, {self.failed} failed "
            f"in {self.seconds:.1f}s"
        )

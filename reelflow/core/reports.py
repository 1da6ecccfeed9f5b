"""Reports, pure: what a run did, in one shape per kind of run, and the one renderer of them.

- TransferReport: an import or a backfill (they move assets the same way, so they report the
  same way); built from per-asset outcomes by `transfer_report`. `transfer_ending` builds it
  and renders all a run shows of it (artifacts, headline, counts, errors) in one call.
- PurgeReport: a purge of purge_queue. SweepReport: an orphan sweep's census and deletions.
- `run_verdict`: the one final-state rule (Completed, Partial or Failed) every flow uses.
- `render`: a report's Prefect artifacts - `markdown` (heading, headline, notes, tables) and
  the table artifact's rows (abandoned, then failed first, at most TABLE_ROWS).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Required, TypedDict, Unpack

from pydantic import BaseModel, Field

from reelflow.core.costs import CostEstimate, Prices, RungBytes, estimate
from reelflow.core.keys import MANAGED_PREFIXES
from reelflow.core.models import AssetOutcome
from reelflow.core.sweep import DESCRIPTIONS, CapDecision, Category, Census, as_utc
from reelflow.core.units import human_size

__all__ = [
    "ATTENTION",
    "TABLE_ROWS",
    "Artifacts",
    "AssetLine",
    "CategoryLine",
    "Ending",
    "PurgeFailure",
    "PurgeReport",
    "RungTotal",
    "SweepReport",
    "TransferFacts",
    "TransferReport",
    "Verdict",
    "VerifyLine",
    "VerifyReport",
    "WarmupReport",
    "artifact_key",
    "attention_first",
    "cost_notes",
    "markdown",
    "render",
    "run_verdict",
    "rung_totals",
    "sweep_report",
    "transfer_ending",
    "transfer_report",
]

Verdict = Literal["Completed", "Partial", "Failed"]


def run_verdict(*, failed: int, succeeded: int) -> Verdict:
    """Completed when nothing failed; Partial when some work failed and some succeeded;
    Failed when nothing succeeded. (Prefect shows Partial as a Failed state named Partial.)"""
    if failed == 0:
        return "Completed"
    return "Partial" if succeeded else "Failed"


# The order rows are shown in: what needs an operator first. An abandoned asset is never
# retried on its own (`reelflow retry` re-arms it); a failed one waits for the next backfill.
ATTENTION = {"abandoned": 0, "failed": 1}


def attention_first(status: str | None) -> int:
    """Sort key of a row's status: abandoned, then failed, then everything else."""
    return ATTENTION.get(status or "", len(ATTENTION))


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(
    title: str, headline: str, *tables: Sequence[Mapping[str, Any]], notes: Sequence[str] = ()
) -> str:
    """`# title`, the headline, bullet notes, then each table (a list of rows with the same
    keys; an empty table is left out)."""
    out = [f"# {title}", "", headline]
    if notes:
        out += ["", *(f"- {note}" for note in notes)]
    for rows in tables:
        if not rows:
            continue
        columns = list(rows[0])
        out += ["", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        out += ["| " + " | ".join(_cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(out)


# A table artifact is one event and one UI page: 20,000 rows made a 4.6 MB event that the
# server refused to publish. Abandoned and failed rows come first; the CLI's --json report
# has every row.
TABLE_ROWS = 1000


def artifact_key(prefix: str, name: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    cleaned = "".join(c if c.isalnum() else "-" for c in f"{prefix}-{name}".lower())
    return cleaned[:100]


@dataclass(frozen=True)
class Artifacts:
    """A report as Prefect shows it: a markdown artifact under `key` (described by the
    headline) and, when `table_key` is set, a table artifact of `table`'s rows."""

    key: str
    markdown: str
    headline: str
    table_key: str | None = None
    table: tuple[dict[str, Any], ...] = ()
    table_description: str = ""


def _status(row: Mapping[str, Any] | BaseModel) -> Any:
    return getattr(row, "status", None) if isinstance(row, BaseModel) else row.get("status")


def render(
    key: str,
    title: str,
    headline: str,
    *tables: Sequence[Mapping[str, Any]],
    notes: Sequence[str] = (),
    table_key: str | None = None,
    table: Sequence[Mapping[str, Any] | BaseModel] = (),
) -> Artifacts:
    """The markdown artifact (`markdown`) and, when `table` has rows, the table artifact:
    abandoned rows first, then failed ones, at most TABLE_ROWS (only those are turned into
    dicts); its description says when rows were left out."""
    rows: tuple[dict[str, Any], ...] = ()
    description = headline
    if table_key and table:
        chosen = sorted(table, key=lambda row: attention_first(_status(row)))[:TABLE_ROWS]
        rows = tuple(
            row.model_dump() if isinstance(row, BaseModel) else dict(row) for row in chosen
        )
        if len(table) > TABLE_ROWS:
            description += (
                f" (table: the first {TABLE_ROWS} of {len(table)} rows, abandoned and failed first)"
            )
    return Artifacts(
        key=key,
        markdown=markdown(title, headline, *tables, notes=notes),
        headline=headline,
        table_key=table_key if rows else None,
        table=rows,
        table_description=description,
    )


class AssetLine(BaseModel):
    """One asset's row in reports and table artifacts: what failed and why come before the
    key, where the UI does not clip them (publish() also puts abandoned, then failed rows
    first)."""

    movie_id: str
    episode: int
    kind: str
    status: str
    error: str | None = None
    attempts: int = 0
    key: str | None = None
    source_bytes: int | None = None
    bytes: int | None = None


class RungTotal(BaseModel):
    """One rung of the ladder in one format, over the thumbnails a run made it for: how many,
    the bytes of their sources (in) and of the renditions (stored)."""

    rung: str
    format: str
    count: int = 0
    source_bytes: int = 0
    bytes: int = 0

    @property
    def percent_saved(self) -> float:
        if not self.source_bytes:
            return 0.0
        return 100.0 * (1 - self.bytes / self.source_bytes)


def rung_totals(outcomes: Sequence[AssetOutcome]) -> list[RungTotal]:
    """Per (rung, format), in ladder order as first met: the renditions stored this run."""
    totals: dict[tuple[str, str], RungTotal] = {}
    for outcome in outcomes:
        if outcome.status != "stored":
            continue
        for rendition in outcome.renditions:
            file = rendition.file
            total = totals.setdefault(
                (file.rung, file.format), RungTotal(rung=file.rung, format=file.format)
            )
            total.count += 1
            total.source_bytes += outcome.source_bytes or 0
            total.bytes += file.bytes
    return list(totals.values())


class TransferReport(BaseModel):
    """What an import (one movie's manifest) or a backfill (claimed assets) did."""

    run: Literal["import", "backfill"]
    movie_id: str | None = None  # the imported movie; None for a backfill
    episodes: int = 0  # episodes in the manifest (import)
    dry_run: bool = False
    candidates: int = 0  # assets that needed a backfill when it started (backfill)
    assets: int = 0  # assets this run handled
    stored: int = 0
    skipped: int = 0  # already stored (sha256 confirmed in S3)
    failed: int = 0  # failed this run; a backfill will try again
    abandoned: int = 0  # failed this run and given up on (dead letters: `reelflow retry`)
    uploaded: int = 0
    source_bytes: int = 0
    stored_bytes: int = 0
    batches: int = 0  # claim batches (backfill)
    # Outcomes the database could not take at the end (it was down): the assets stay pending
    # or failed as they were, and the next import or backfill adopts them (an object already
    # in S3 with the same sha256 is not uploaded again).
    unrecorded: int = 0
    unrecorded_reason: str = ""
    bucket: str = ""
    seconds: float = 0.0
    lines: list[AssetLine] = Field(default_factory=list)
    # Thumbnails' renditions made this run, per rung and format.
    rungs: list[RungTotal] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.abandoned == 0

    def cost_estimate(self, prices: Prices) -> CostEstimate | None:
        """This run's thumbnails priced as sources (before) and as their renditions (after);
        None when it made no whole ladder."""
        if not self.rungs:
            return None
        widest = max(self.rungs, key=lambda total: total.count)
        return estimate(
            [RungBytes(t.rung, t.format, t.count, t.bytes, t.source_bytes) for t in self.rungs],
            widest.count,
            widest.source_bytes,
            prices,
        )

    def rung_rows(self) -> list[dict[str, Any]]:
        """The per-rung table: renditions, bytes in (their sources), bytes stored, saved."""
        return [
            {
                "rung": total.rung,
                "format": total.format,
                "renditions": total.count,
                "in": human_size(total.source_bytes),
                "stored": human_size(total.bytes),
                "saved": f"{total.percent_saved:.1f}%",
            }
            for total in self.rungs
        ]

    @property
    def verdict(self) -> Verdict:
        return run_verdict(
            failed=self.failed + self.abandoned, succeeded=self.stored + self.skipped
        )

    @property
    def percent_saved(self) -> float:
        if not self.source_bytes:
            return 0.0
        return 100.0 * (1 - self.stored_bytes / self.source_bytes)

    def headline(self) -> str:
        if self.dry_run:
            return f"Dry run: {self.candidates} assets need a backfill"
        who = f"movie {self.movie_id}: {self.assets} assets"
        if self.run == "backfill":
            who = f"Backfill: {self.assets} assets claimed"
        text = (
            f"{who} - {self.stored} stored "
            f"({self.uploaded} uploaded), {self.skipped} already stored, {self.failed} failed"
            f"{f', {self.abandoned} abandoned' if self.abandoned else ''}; "
            f"{human_size(self.source_bytes)} in -> {human_size(self.stored_bytes)} stored "
            f"({self.percent_saved:.1f}% smaller) in {self.seconds:.1f}s"
        )
        if self.unrecorded:
            text += (
                f"; {self.unrecorded} failures not recorded ({self.unrecorded_reason}): "
                "the next import or backfill adopts those assets"
            )
        elif self.unrecorded_reason:
            text += f"; stopped early ({self.unrecorded_reason})"
        return text

    def failure_messages(self) -> list[str]:
        return [
            f"{line.movie_id}/ep{line.episode}/{line.kind} {line.status}: {line.error}"
            for line in self.lines
            if line.status in ATTENTION
        ]

    def counts(self) -> dict[str, Any]:
        """The one-row table of counts shown in artifacts."""
        row: dict[str, Any] = {}
        if self.run == "backfill":
            row["candidates"] = self.candidates
        row |= {
            "assets": self.assets,
            "stored": self.stored,
            "uploaded": self.uploaded,
            "already stored": self.skipped,
            "failed": self.failed,
            "abandoned": self.abandoned,
        }
        if self.unrecorded:
            row["not recorded"] = self.unrecorded
        if self.run == "backfill":
            row["batches"] = self.batches
        row |= {"MB in": round(self.source_bytes / 1e6, 2), "seconds": self.seconds}
        return row


def _line(o: AssetOutcome) -> AssetLine:
    return AssetLine(
        movie_id=o.job.movie_id,
        episode=o.job.number,
        kind=o.job.kind,
        status=o.status,
        key=o.key,
        source_bytes=o.source_bytes,
        bytes=o.bytes,
        attempts=o.attempts,
        error=o.error,
    )


def transfer_report(
    outcomes: Sequence[AssetOutcome],
    *,
    run: Literal["import", "backfill"],
    bucket: str,
    seconds: float,
    movie_id: str | None = None,
    episodes: int = 0,
    candidates: int = 0,
    batches: int = 0,
    max_lines: int | None = None,
    unrecorded: int = 0,
    unrecorded_reason: str = "",
    dry_run: bool = False,
    listed: Sequence[Mapping[str, Any]] = (),
) -> TransferReport:
    """Counts, bytes and one line per asset: abandoned, then failed, then the rest, each in
    (movie, episode, kind) order; at most `max_lines`. A dry run (a backfill's) moves nothing:
    its lines are the assets it `listed` (AssetLine fields), as listed."""
    counts = Counter(outcome.status for outcome in outcomes)
    moved = [o for o in outcomes if o.status == "stored"]
    by_asset = sorted(  # what needs an operator first, so no cap cuts it off for a success
        outcomes,
        key=lambda o: (attention_first(o.status), o.job.movie_id, o.job.number, o.job.kind),
    )[:max_lines]
    return TransferReport(
        run=run,
        movie_id=movie_id,
        episodes=episodes,
        dry_run=dry_run,
        candidates=candidates,
        assets=len(outcomes),
        stored=counts["stored"],
        skipped=counts["skipped"],
        failed=counts["failed"],
        abandoned=counts["abandoned"],
        uploaded=sum(1 for o in outcomes if o.uploaded),
        source_bytes=sum(o.source_bytes or 0 for o in moved),
        # Every object stored: a thumbnail's renditions (all of them), a preview's file.
        stored_bytes=sum(
            sum(r.file.bytes for r in o.renditions) if o.renditions else o.bytes or 0 for o in moved
        ),
        batches=batches,
        unrecorded=unrecorded,
        unrecorded_reason=unrecorded_reason,
        bucket=bucket,
        seconds=round(seconds, 3),
        lines=[AssetLine(**row) for row in listed] if dry_run else [_line(o) for o in by_asset],
        rungs=rung_totals(outcomes),
    )


def cost_notes(report: TransferReport, prices: Prices) -> list[str]:
    """The run's renditions priced per month at `prices`: the notes of its artifact."""
    found = report.cost_estimate(prices)
    return [f"cost of these thumbnails: {line}" for line in found.lines()] if found else []


class TransferFacts(TypedDict, total=False):
    """What a transfer_report is built from besides the outcomes (its keyword arguments)."""

    run: Required[Literal["import", "backfill"]]
    bucket: Required[str]
    seconds: Required[float]
    movie_id: str | None
    episodes: int
    candidates: int
    batches: int
    max_lines: int | None
    unrecorded: int
    unrecorded_reason: str
    dry_run: bool
    listed: Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class Ending:
    """All an import or a backfill shows when it ends: its report (the final state's data),
    verdict, headline (the state's message and the log's first line), counts (the live
    `finished` event), errors (to log) and artifacts."""

    report: TransferReport
    verdict: Verdict
    headline: str
    counts: dict[str, Any]
    errors: list[str]
    artifacts: Artifacts


def transfer_ending(
    outcomes: Sequence[AssetOutcome], prices: Prices, **facts: Unpack[TransferFacts]
) -> Ending:
    """The report of an import (`import-summary-<movie>`, `import-report-<movie>`) or a
    backfill (`backfill-summary`, `backfill-report`), built and rendered in one call: counts,
    per-rung table and cost notes (priced at `prices`) on the summary, one row per asset in
    the table."""
    report = transfer_report(outcomes, **facts)
    headline, counts = report.headline(), report.counts()
    if report.run == "import":
        movie = report.movie_id or ""
        title = f"Import of movie {movie}"
        key, table_key = artifact_key("import-summary", movie), artifact_key("import-report", movie)
    else:
        title = "Backfill" + (" (dry run)" if report.dry_run else "")
        key, table_key = "backfill-summary", "backfill-report"
    return Ending(
        report=report,
        verdict=report.verdict,
        headline=headline,
        counts=counts,
        errors=[] if report.dry_run else report.failure_messages(),
        artifacts=render(
            key,
            title,
            headline,
            [counts],
            report.rung_rows(),
            notes=cost_notes(report, prices),
            table_key=table_key,
            table=report.lines,
        ),
    )


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

    @property
    def verdict(self) -> Verdict:
        return run_verdict(failed=self.failed + self.refused, succeeded=self.deleted)

    def counts(self) -> dict[str, Any]:
        return {
            "considered": self.considered,
            "deleted": self.deleted,
            "failed": self.failed,
            "in use again": self.revived,
            "refused": self.refused,
            "requests": self.batches,
            "seconds": self.seconds,
        }

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
    execute: bool = False  # what was asked: a deleting sweep (executed only if allowed)
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

    @property
    def verdict(self) -> Verdict:
        owed = self.owed_purge or PurgeReport()
        return run_verdict(
            failed=self.failed + owed.failed + owed.refused, succeeded=self.deleted + owed.deleted
        )

    @property
    def refused(self) -> bool:
        """An executing sweep that the safety cap refused: it deleted nothing."""
        return self.execute and not self.allowed

    @property
    def mode(self) -> str:
        """What this sweep was, for titles: executed, refused (asked to execute) or dry run."""
        if self.executed:
            return "executed"
        return "refused: nothing deleted" if self.refused else "dry run"

    def category(self, name: Category) -> CategoryLine:
        return next(line for line in self.categories if line.category == name)

    def headline(self) -> str:
        """One line of counts. The cap's reason is not repeated here: it is `decision`, which
        a refused run carries as its error (printed once)."""
        orphans = self.category("orphan")
        where = f"of {self.listed} listed objects in {self.bucket}"
        found = (
            f"{orphans.count} orphans ({human_size(orphans.bytes)}) {where} "
            f"({self.fraction:.1%}) and {self.category('owed').count} owed objects"
        )
        if self.refused:
            return f"Refused by the safety cap, nothing deleted: {found}"
        if not self.executed:
            verdict = "the cap allows it" if self.allowed else "an executed sweep would be refused"
            return f"Dry run: would delete {found}; {verdict}"
        text = f"Deleted {self.deleted} orphans ({human_size(self.deleted_bytes)}) {where}"
        if self.owed_purge is not None:
            text += f"; purge queue: {self.owed_purge.headline()}"
        if self.failed:
            text += f"; {self.failed} could not be deleted (queued for a retry)"
        if self.deferred:
            text += f"; {self.deferred} new orphans deferred to the next sweep"
        return text


def sweep_report(
    census: Census,
    decision: CapDecision,
    *,
    bucket: str,
    execute: bool,
    now: dt.datetime,
    cutoff: dt.datetime,
    grace_hours: float,
    max_fraction: float,
    force: bool,
    references: int,
) -> SweepReport:
    """A sweep's report from its census and cap decision (before anything is deleted):
    `execute` is what was asked; it is executed only when the cap allows it."""
    return SweepReport(
        bucket=bucket,
        execute=execute,
        executed=execute and decision.allowed,
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


class WarmupReport(BaseModel):
    """What a presign warm-up did."""

    top_movies: int
    urls: int  # not `keys`: Prefect treats a model with .keys() as a mapping
    signed: int
    cached: int
    batches: int
    seconds: float
    mode: str  # "redis", "memory only" or "cdn"

    @property
    def verdict(self) -> Verdict:
        return "Completed"

    def headline(self) -> str:
        return (
            f"{self.urls} URLs of the top {self.top_movies} movies: {self.signed} signed, "
            f"{self.cached} already cached, {self.batches} batches, {self.seconds:.2f}s "
            f"({self.mode})"
        )

    def counts(self) -> dict[str, Any]:
        return {
            "top movies": self.top_movies,
            "URLs": self.urls,
            "signed": self.signed,
            "already cached": self.cached,
            "batches": self.batches,
            "seconds": self.seconds,
            "mode": self.mode,
        }


class VerifyLine(BaseModel):
    """One stored object that is not what the database recorded."""

    status: str  # missing | size | sha256 (publish() sorts by status: the field keeps its name)
    movie_id: str
    episode: int
    kind: str
    error: str
    asset_id: int
    key: str


class VerifyReport(BaseModel):
    """What a verify run found: every object the database says is stored, checked by listing
    (present, size) and, unless size_only, by HEAD (the sha256 in its metadata)."""

    bucket: str
    dry_run: bool
    sha256: bool = True  # HEADs made (False: sizes only)
    movie_id: str | None = None
    stored: int = 0  # objects the database says are stored (in scope)
    checked: int = 0
    intact: int = 0
    missing: int = 0
    size: int = 0
    sha256_mismatch: int = 0
    marked: int = 0  # assets marked for backfill (execute only)
    listings: int = 0  # ListObjectsV2 requests
    heads: int = 0  # HEAD requests
    batches: int = 0
    seconds: float = 0.0
    lines: list[VerifyLine] = Field(default_factory=list)

    @property
    def problems(self) -> int:
        return self.missing + self.size + self.sha256_mismatch

    @property
    def verdict(self) -> Verdict:
        """Finding damage is the job, not a failure: what cannot be checked raises instead."""
        return "Completed"

    def headline(self) -> str:
        what = (
            f"{self.problems} of {self.checked} stored objects in {self.bucket} are missing or "
            f"differ ({self.missing} missing, {self.size} wrong size, "
            f"{self.sha256_mismatch} wrong sha256{'' if self.sha256 else ', sha256 not checked'})"
        )
        if self.dry_run:
            act = f"would mark {self.problems} assets for backfill" if self.problems else "all good"
            return f"Dry run: {what}; {act}"
        act = f"marked {self.marked} assets for backfill" if self.problems else "all good"
        return f"Verified: {what}; {act} in {self.seconds:.1f}s"

    def counts(self) -> dict[str, Any]:
        return {
            "stored (DB)": self.stored,
            "checked": self.checked,
            "intact": self.intact,
            "missing": self.missing,
            "wrong size": self.size,
            "wrong sha256": self.sha256_mismatch,
            "marked": self.marked,
            "list requests": self.listings,
            "HEAD requests": self.heads,
            "seconds": self.seconds,
        }

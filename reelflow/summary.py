"""Import outcomes summarised: counts, bytes, percent saved, and the lines the CLI prints."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from pydantic import BaseModel

from reelflow.models import AssetOutcome

__all__ = ["AssetLine", "ImportSummary", "summarize"]


class AssetLine(BaseModel):
    episode: int
    kind: str
    status: str
    key: str | None = None
    source_bytes: int | None = None
    bytes: int | None = None
    attempts: int = 0
    error: str | None = None


class ImportSummary(BaseModel):
    movie_id: str
    episodes: int
    assets: int
    stored: int
    skipped: int
    failed: int
    uploaded: int
    source_bytes: int
    stored_bytes: int
    bucket: str
    seconds: float
    lines: list[AssetLine]

    @property
    def ok(self) -> bool:
        return self.failed == 0

    @property
    def percent_saved(self) -> float:
        if not self.source_bytes:
            return 0.0
        return 100.0 * (1 - self.stored_bytes / self.source_bytes)

    def headline(self) -> str:
        return (
            f"movie {self.movie_id}: {self.assets} assets - {self.stored} stored "
            f"({self.uploaded} uploaded), {self.skipped} already stored, {self.failed} failed; "
            f"{self.source_bytes / 1e6:.2f} MB in -> {self.stored_bytes / 1e6:.2f} MB stored "
            f"({self.percent_saved:.1f}% smaller) in {self.seconds:.1f}s"
        )


def summarize(
    movie_id: str, episodes: int, bucket: str, outcomes: Sequence[AssetOutcome], seconds: float
) -> ImportSummary:
    counts = Counter(outcome.status for outcome in outcomes)
    moved = [o for o in outcomes if o.status == "stored"]
    return ImportSummary(
        movie_id=movie_id,
        episodes=episodes,
        assets=len(outcomes),
        stored=counts["stored"],
        skipped=counts["skipped"],
        failed=counts["failed"],
        uploaded=sum(1 for o in outcomes if o.uploaded),
        source_bytes=sum(o.source_bytes or 0 for o in moved),
        stored_bytes=sum(o.bytes or 0 for o in moved),
        bucket=bucket,
        seconds=round(seconds, 3),
        lines=[
            AssetLine(
                episode=o.job.number,
                kind=o.job.kind,
                status=o.status,
                key=o.key,
                source_bytes=o.source_bytes,
                bytes=o.bytes,
                attempts=o.attempts,
                error=o.error,
            )
            for o in sorted(outcomes, key=lambda o: (o.job.number, o.job.kind))
        ],
    )

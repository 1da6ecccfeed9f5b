"""What the ladder saves, in money: storage and egress before and after, per 1,000 episodes.
Pure; the figures come from the database (reelflow.adapters.db.catalog.rung_totals).

'Before' is the seed's behaviour without compression: each thumbnail stored and served as
its source bytes. 'After' is the ladder: every rendition stored, and each view served the
rung a page loads (REELFLOW_VIEW_RUNG, a catalogue card). Previews are stored as they come
either way, so they cost the same before and after and are shown on their own line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["CostEstimate", "Prices", "RungBytes", "estimate"]

GB = 1_000_000_000  # S3 bills by the decimal gigabyte


@dataclass(frozen=True)
class Prices:
    storage_gb_month: float  # USD per GB-month stored
    egress_gb: float  # USD per GB served to the internet
    views_per_episode_month: int  # thumbnail loads per episode per month
    view_rung: str  # the rung a view loads


@dataclass(frozen=True)
class RungBytes:
    """One (rung, format) over the stored thumbnails: renditions, their bytes, and the bytes
    of the sources they were made from."""

    rung: str
    format: str
    count: int
    bytes: int
    source_bytes: int


@dataclass(frozen=True)
class CostEstimate:
    thumbnails: int
    source_bytes: int  # every stored thumbnail's source, once
    stored_bytes: int  # every rendition
    served_bytes_before: float  # per month
    served_bytes_after: float
    storage_before: float  # USD per month
    storage_after: float
    egress_before: float
    egress_after: float

    @property
    def total_before(self) -> float:
        return self.storage_before + self.egress_before

    @property
    def total_after(self) -> float:
        return self.storage_after + self.egress_after

    def per_thousand(self) -> CostEstimate:
        """The same estimate scaled to 1,000 episodes (the spec's unit)."""
        if not self.thumbnails:
            return self
        k = 1000 / self.thumbnails
        return CostEstimate(
            1000,
            round(self.source_bytes * k),
            round(self.stored_bytes * k),
            self.served_bytes_before * k,
            self.served_bytes_after * k,
            self.storage_before * k,
            self.storage_after * k,
            self.egress_before * k,
            self.egress_after * k,
        )

    def lines(self) -> list[str]:
        saved = 100 * (1 - self.total_after / self.total_before) if self.total_before else 0.0
        return [
            f"storage: ${self.storage_before:,.4f} -> ${self.storage_after:,.4f} a month "
            f"({self.source_bytes / GB:.3f} GB of sources -> {self.stored_bytes / GB:.3f} GB "
            "of renditions)",
            f"egress: ${self.egress_before:,.2f} -> ${self.egress_after:,.2f} a month "
            f"({self.served_bytes_before / GB:.2f} GB -> {self.served_bytes_after / GB:.2f} GB "
            "served)",
            f"total: ${self.total_before:,.2f} -> ${self.total_after:,.2f} a month "
            f"({saved:.1f}% less) for {self.thumbnails:,} thumbnails",
        ]


def estimate(
    rungs: Sequence[RungBytes], thumbnails: int, source_bytes: int, prices: Prices
) -> CostEstimate:
    """Monthly cost of `thumbnails` stored thumbnails (their sources totalling `source_bytes`)
    as sources (before) and as the ladder `rungs` (after)."""
    stored = sum(r.bytes for r in rungs)
    viewed = [r for r in rungs if r.rung == prices.view_rung and r.format == "webp"]
    views = prices.views_per_episode_month * thumbnails
    mean_source = source_bytes / thumbnails if thumbnails else 0.0
    view_rendition = (
        viewed[0].bytes / viewed[0].count if viewed and viewed[0].count else mean_source
    )
    served_before = views * mean_source
    served_after = views * view_rendition
    return CostEstimate(
        thumbnails=thumbnails,
        source_bytes=source_bytes,
        stored_bytes=stored,
        served_bytes_before=served_before,
        served_bytes_after=served_after,
        storage_before=source_bytes / GB * prices.storage_gb_month,
        storage_after=stored / GB * prices.storage_gb_month,
        egress_before=served_before / GB * prices.egress_gb,
        egress_after=served_after / GB * prices.egress_gb,
    )

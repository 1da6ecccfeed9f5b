"""Chunks of assets: how many go in one task run, what the run is called, and when an asset
inside a chunk is tried again. Pure: no Prefect, no clocks read here (callers pass seconds).

A task run costs ~10-45 ms of orchestration on 2 cores (client, server and database), and an
asset that fails at its first byte costs ~1 ms. One task run per asset therefore capped a whole
fleet near 18 task runs/s. A chunk carries many assets through the same step functions in one
task run, sized so that the run does about `target_seconds` of work: orchestration is then a
few per cent of the wall time, whatever an asset costs.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from reelflow.core.models import AssetJob

__all__ = ["Chunk", "ChunkSizer", "chunk_label", "jittered", "retry_delay"]

T = TypeVar("T")


def chunk_label(jobs: Sequence[AssetJob]) -> str:
    """`mv1 ep1-ep48 [48]`: the range a chunk covers, for its task run's name. Assets of
    several movies (a backfill) name both ends: `mv1/ep7-mv2/ep3 [20]`."""
    if not jobs:
        return "[0]"
    first, last = jobs[0], jobs[-1]
    if first.movie_id == last.movie_id:
        same = first.number == last.number
        span = f"ep{first.number}" if same else f"ep{first.number}-ep{last.number}"
        return f"{first.movie_id} {span} [{len(jobs)}]"
    return f"{first.movie_id}/ep{first.number}-{last.movie_id}/ep{last.number} [{len(jobs)}]"


@dataclass(frozen=True)
class Chunk(Generic[T]):
    """Items that travel together as one task run (on Dask, to one worker)."""

    items: tuple[T, ...]
    label: str

    def __len__(self) -> int:
        return len(self.items)


@dataclass
class ChunkSizer:
    """Chunk sizes that give each task run about `target_seconds` of the machine's time.

    With `slots` chunks running side by side, a chunk of n assets that took w seconds of wall
    time used w / slots of the machine's time, n of them: an asset costs w / (n * slots)
    machine-seconds. That estimate (exponentially weighted over finished chunks) sets the next
    size: target / estimate. So the whole run finishes about one chunk every `target_seconds`,
    and orchestration (~10-45 ms a task run) stays a few per cent of it however cheap assets
    are and however many run at once.

    The first chunks are `first_size` (nothing is known yet); a size is at most `growth` times
    the largest so far (one fast chunk does not commit a huge one), at most `max_size`, and at
    most an even share of what is left over two rounds of `slots` (so the last chunks spread
    over every thread or worker instead of leaving one long tail).
    """

    slots: int = 1
    target_seconds: float = 2.0
    max_size: int = 500
    first_size: int = 4
    growth: float = 4.0
    weight: float = 0.3
    seconds_per_item: float | None = field(default=None, init=False)
    largest: int = field(default=0, init=False)

    def observe(self, items: int, seconds: float) -> None:
        """A chunk of `items` took `seconds` of wall time in its task run."""
        if items <= 0 or not math.isfinite(seconds) or seconds < 0:
            return
        per_item = seconds / items / max(1, self.slots)
        if self.seconds_per_item is None:
            self.seconds_per_item = per_item
        else:
            self.seconds_per_item += self.weight * (per_item - self.seconds_per_item)

    def next_size(self, remaining: int) -> int:
        """How many of `remaining` items the next chunk takes."""
        if remaining <= 0:
            return 0
        if self.seconds_per_item is None:
            wanted = self.first_size
        elif self.seconds_per_item <= 0:
            wanted = self.max_size
        else:
            wanted = int(self.target_seconds / self.seconds_per_item)
        if self.seconds_per_item is not None and self.largest:
            wanted = min(wanted, int(self.largest * self.growth))
        share = math.ceil(remaining / (2 * max(1, self.slots)))
        size = max(1, min(wanted, self.max_size, share, remaining))
        self.largest = max(self.largest, size)
        return size


def jittered(delay: float, factor: float, rand: random.Random | None = None) -> float:
    """`delay` spread uniformly over [delay * (1 - factor), delay * (1 + factor)]: assets that
    failed together do not all come back at the same instant. factor 0: the delay itself."""
    if delay <= 0 or factor <= 0:
        return max(0.0, delay)
    factor = min(factor, 1.0)
    low, high = delay * (1 - factor), delay * (1 + factor)
    return (rand or random).uniform(low, high)


def retry_delay(
    attempt: int,
    *,
    retryable: bool,
    delays: Sequence[float],
    jitter: float,
    rand: random.Random | None = None,
) -> float | None:
    """Seconds to wait before trying an asset again after its `attempt`-th try failed, or None
    when it is not tried again: a terminal error, or every retry (one per delay) spent."""
    if not retryable or attempt > len(delays) or attempt < 1:
        return None
    return jittered(delays[attempt - 1], jitter, rand)

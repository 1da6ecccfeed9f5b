"""One engine's timed run: its first-round outputs and its summed wall-clock and CPU time."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Timed", "clock"]


@dataclass
class Timed:
    """One engine's run over the images: outputs of the first round and the summed timings."""

    name: str
    outputs: list[bytes | None]  # per input, first round; None if the engine refused the input
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    images: int = 0
    threads: int = 1
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0

    @property
    def images_per_cpu_second(self) -> float:
        return self.images / self.cpu_seconds if self.cpu_seconds > 0 else 0.0

    @property
    def output_bytes(self) -> int:
        return sum(len(o) for o in self.outputs if o is not None)


@contextlib.contextmanager
def clock(run: Timed, images: int) -> Iterator[None]:
    """Add the block's wall-clock and process CPU time, and `images`, to `run`."""
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    run.seconds += time.perf_counter() - wall
    run.cpu_seconds += time.process_time() - cpu
    run.images += images

"""A circuit breaker: after `threshold` consecutive failures (one by default), stop calling a
dependency for a cooldown. Pure.

    closed --threshold-th failure in a row--> open --cooldown elapsed, next caller--> half-open
    (one probe)
    half-open --probe succeeds--> closed          half-open --probe fails--> open

While open, `allow()` answers False at once, so a dead dependency costs no time per request;
only the probe pays a (short) timeout once per cooldown. `outage_seconds()` says how long the
dependency has been failing: from the failure that opened the breaker until a success closes it,
half-open probes that fail included. `on_change(old, new, reason)` is called
once per state change, never per request. Counters say what happened: the tests assert on them
(e.g. no attempt was made while open) instead of timing anything.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

__all__ = ["Breaker", "BreakerStats", "State"]

State = Literal["closed", "open", "half-open"]
OnChange = Callable[[State, State, str], None]


@dataclass(frozen=True)
class BreakerStats:
    state: State
    attempts: int  # calls allowed through (probes included)
    skipped: int  # calls refused because the breaker was open
    failures: int
    successes: int
    opened: int  # times it went (back) to open


class Breaker:
    def __init__(
        self,
        cooldown: float,
        *,
        threshold: int = 1,
        clock: Callable[[], float] = time.monotonic,
        on_change: OnChange | None = None,
    ) -> None:
        if cooldown <= 0:
            raise ValueError(f"cooldown must be positive, got {cooldown}")
        if threshold < 1:
            raise ValueError(f"threshold must be at least 1, got {threshold}")
        self.cooldown = cooldown
        self.threshold = threshold
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()
        self._state: State = "closed"
        self._since = 0.0  # when it opened, or when the half-open probe started
        self._in_a_row = 0  # consecutive failures while closed
        self._outage_start: float | None = None  # the failure that opened it; None when closed
        self._attempts = self._skipped = self._failures = self._successes = self._opened = 0

    @property
    def state(self) -> State:
        return self._state

    def outage_seconds(self) -> float:
        """How long the dependency has been down (0 while closed)."""
        with self._lock:
            if self._outage_start is None:
                return 0.0
            return max(0.0, self._clock() - self._outage_start)

    def stats(self) -> BreakerStats:
        with self._lock:
            return BreakerStats(
                state=self._state,
                attempts=self._attempts,
                skipped=self._skipped,
                failures=self._failures,
                successes=self._successes,
                opened=self._opened,
            )

    def allow(self) -> bool:
        """May the caller try the dependency now? Every True must be followed by success() or
        failure(); a probe that never reports is replaced after another cooldown."""
        change: tuple[State, State, str] | None = None
        with self._lock:
            if self._state == "closed":
                allowed = True
            else:
                now = self._clock()
                waited = now - self._since
                allowed = waited >= self.cooldown or waited < 0  # < 0: the clock went back
                if allowed:
                    if self._state == "open":
                        change = ("open", "half-open", f"probing after {self.cooldown:g}s")
                    self._state, self._since = "half-open", now
            if allowed:
                self._attempts += 1
            else:
                self._skipped += 1
        if change:
            self._notify(*change)
        return allowed

    def success(self) -> None:
        change: tuple[State, State, str] | None = None
        with self._lock:
            self._successes += 1
            self._in_a_row = 0
            self._outage_start = None
            if self._state != "closed":
                change = (self._state, "closed", "the probe succeeded")
                self._state = "closed"
        if change:
            self._notify(*change)

    def failure(self, reason: str) -> None:
        change: tuple[State, State, str] | None = None
        with self._lock:
            self._failures += 1
            if self._state == "closed":
                self._in_a_row += 1
                if self._in_a_row < self.threshold:
                    return
            if self._state != "open":
                change = (self._state, "open", reason)
                self._opened += 1
            now = self._clock()
            if self._outage_start is None:
                self._outage_start = now
            self._state, self._since = "open", now
        if change:
            self._notify(*change)

    def _notify(self, old: State, new: State, reason: str) -> None:
        if self._on_change is not None:
            self._on_change(old, new, reason)

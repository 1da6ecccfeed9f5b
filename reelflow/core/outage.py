"""Riding out a dependency's outage: calls are held while it is down, never re-attempted. Pure.

Every call to a dependency (S3, the database, one origin host) goes through its Gate, which a
run's tasks share. Per-asset retries alone fail assets in a common blip: with 16 assets in
flight, each spends its 1+2+4 s of backoff against a dependency that is down for everyone.

The gate is not a second retry owner. It makes each call at most once; a call that fails is
raised to the task, whose retry policy (tasks/retry.py) decides whether to try again, and every
such attempt is counted. What the gate adds is the holding:

    a failure that is not an outage (is_outage False): the dependency answered; re-raised as is
    an outage failure: recorded by the breaker and re-raised (the task retries it, counted)
    a call while the breaker is open: held before it is made. Once per cooldown one held
        caller probes the dependency with the gate's `probe` (a cheap request of its own, never
        the caller's work); when a probe is answered the breaker closes and every held caller
        makes its call
    an outage longer than `max_wait`: held callers stop waiting and raise `error_type` naming
        the dependency, how long it has been down and its last error (still transient: a later
        retry or run may find it back); callers arriving later fail at once instead of waiting,
        until a probe finds the dependency back

A gate that has no probe yet (nothing told it how to ask) lets the held caller whose turn it is
make its own call as the probe: still one call, counted by its task.

Time is injected (the breaker's clock and `sleep`), so the tests drive it without waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from reelflow.core.breaker import Breaker
from reelflow.core.errors import TransientError
from reelflow.core.redaction import scrub

__all__ = ["Gate"]

T = TypeVar("T")


class Gate:
    """The calls to one dependency: a shared breaker, and the holding around it."""

    def __init__(
        self,
        name: str,
        breaker: Breaker,
        *,
        error_type: type[TransientError],
        max_wait: float,
        is_outage: Callable[[BaseException], bool] | None = None,
        probe: Callable[[], object] | None = None,
        poll: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name  # as it reads in a sentence: "S3", "the database", "origin cdn.example"
        self.breaker = breaker
        self.error_type = error_type
        self.max_wait = max_wait
        self.is_outage = is_outage or (lambda exc: isinstance(exc, error_type))
        self.poll = poll
        self._probe = probe
        self._sleep = sleep
        self._lock = threading.Lock()
        self._last_error = ""
        self.waits = 0  # calls that were held at least once
        self.probes = 0  # probes the gate sent while the dependency was down

    @property
    def last_error(self) -> str:
        with self._lock:
            return self._last_error

    def call(self, fn: Callable[[], T], *, probe: Callable[[], object] | None = None) -> T:
        """fn(), made once: held first while the dependency is down (see the module's
        docstring). `probe`, when given, is how the gate asks this dependency from now on."""
        if probe is not None:
            self._probe = probe
        self._hold()
        try:
            result = fn()
        except Exception as exc:
            if self.is_outage(exc):
                self._failed(exc)
                if (
                    self.breaker.state != "closed"
                    and 0 < self.max_wait <= self.breaker.outage_seconds()
                ):
                    raise self._gave_up() from None
            else:
                self.breaker.success()  # it answered: this request's own failure
            raise
        self.breaker.success()
        return result

    def _failed(self, exc: BaseException) -> None:
        reason = scrub(f"{type(exc).__name__}: {exc}")
        with self._lock:
            self._last_error = reason
        self.breaker.failure(reason)

    def _hold(self) -> None:
        """Return when the dependency may be called: the breaker is closed, a probe found the
        dependency back, or (no probe known) it is this caller's turn to be the probe. Raise
        when the outage has lasted longer than max_wait."""
        held = False
        while True:
            if self.breaker.allow() and (self.breaker.state == "closed" or self._probed()):
                return
            # Checked after every failed probe too: with probes due more often than a poll,
            # every turn probes, and the wait must still end.
            if self.breaker.outage_seconds() >= self.max_wait:
                raise self._gave_up()
            if not held:
                held = True
                with self._lock:
                    self.waits += 1
            self._sleep(self.poll)

    def _probed(self) -> bool:
        """This caller's turn to probe (the breaker is half-open): True when the dependency
        answered (the breaker is closed again), or when there is no probe and the caller's own
        call must be the probe."""
        probe = self._probe
        if probe is None:
            return True
        with self._lock:
            self.probes += 1
        try:
            probe()
        except Exception as exc:
            if self.is_outage(exc):
                self._failed(exc)
                return False
        self.breaker.success()
        return True

    def _gave_up(self) -> TransientError:
        down = self.breaker.outage_seconds()
        return self.error_type(
            f"{self.name} has been unavailable for {down:.0f} s, longer than the "
            f"{self.max_wait:g} s an asset waits for it (REELFLOW_OUTAGE_MAX_WAIT); "
            f"last error: {self.last_error or 'none recorded'}"
        )

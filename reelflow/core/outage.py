"""Riding out a dependency's outage: callers wait for it instead of burning their retries. Pure.

Every call to a dependency (S3, the database, one origin host) goes through its Gate, which a
run's tasks share. Per-asset retries alone fail assets in a common blip: with 16 assets in
flight, each spends its 1+2+4 s of backoff against a dependency that is down for everyone.

    a failure that is not an outage (is_outage False): the dependency answered; re-raised as is
    an outage failure, breaker still closed (below its threshold of failures in a row):
        re-raised: the task's retry policy handles a blip as it always did
    the failure that opens the breaker, or one while it is open or half-open:
        the caller waits instead of failing
    waiting: poll the breaker; once per cooldown it lets one probe through, and when the probe
        succeeds every waiting caller goes again
    an outage longer than `max_wait`: callers stop waiting and raise `error_type` naming the
        dependency, how long it has been down and its last error (still transient: a later
        retry or run may find it back), and callers arriving later fail at once instead of
        waiting, until a probe finds the dependency back

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
    """The calls to one dependency: a shared breaker and the waiting around it."""

    def __init__(
        self,
        name: str,
        breaker: Breaker,
        *,
        error_type: type[TransientError],
        max_wait: float,
        is_outage: Callable[[BaseException], bool] | None = None,
        poll: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name  # as it reads in a sentence: "S3", "the database", "origin cdn.example"
        self.breaker = breaker
        self.error_type = error_type
        self.max_wait = max_wait
        self.is_outage = is_outage or (lambda exc: isinstance(exc, error_type))
        self.poll = poll
        self._sleep = sleep
        self._lock = threading.Lock()
        self._last_error = ""
        self.waits = 0  # calls that waited for the dependency at least once

    @property
    def last_error(self) -> str:
        with self._lock:
            return self._last_error

    def call(self, fn: Callable[[], T]) -> T:
        """fn(), waiting out an outage of the dependency (see the module's docstring)."""
        waited = False
        while True:
            if not self.breaker.allow():
                if not waited:
                    waited = True
                    with self._lock:
                        self.waits += 1
                self._wait_turn()
            try:
                result = fn()
            except Exception as exc:
                if not self.is_outage(exc):
                    self.breaker.success()  # it answered: this request's own failure
                    raise
                reason = scrub(f"{type(exc).__name__}: {exc}")
                with self._lock:
                    self._last_error = reason
                self.breaker.failure(reason)
                if self.breaker.state == "closed" or self.max_wait <= 0:
                    raise  # a blip, not (yet) an outage; or waiting is turned off
                if self.breaker.outage_seconds() >= self.max_wait:
                    raise self._gave_up() from None
                continue
            self.breaker.success()
            return result

    def _wait_turn(self) -> None:
        """Return when the breaker lets this caller through (closed, or its turn to probe);
        raise when the outage has lasted longer than max_wait."""
        while True:
            if self.breaker.outage_seconds() >= self.max_wait:
                raise self._gave_up()
            self._sleep(self.poll)
            if self.breaker.allow():
                return

    def _gave_up(self) -> TransientError:
        down = self.breaker.outage_seconds()
        return self.error_type(
            f"{self.name} has been unavailable for {down:.0f} s, longer than the "
            f"{self.max_wait:g} s an asset waits for it (REELFLOW_OUTAGE_MAX_WAIT); "
            f"last error: {self.last_error or 'none recorded'}"
        )

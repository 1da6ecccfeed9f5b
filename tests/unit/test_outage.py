"""Riding out an outage (reelflow.core.outage.Gate), driven by a fake clock: no test waits.
The gate holds calls while a dependency is down and never makes one twice: every attempt is
the task's own, and these tests count them."""

from __future__ import annotations

import pytest

from reelflow.core.breaker import Breaker
from reelflow.core.errors import OriginRejected, StorageUnavailable


class Clock:
    """A clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


class Dependency:
    """Down (raising StorageUnavailable) between two clock readings, up otherwise."""

    def __init__(self, clock: Clock, down_from: float, down_until: float) -> None:
        self.clock, self.down_from, self.down_until = clock, down_from, down_until
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.down_from <= self.clock.now < self.down_until:
            raise StorageUnavailable("upload: cannot reach S3 (EndpointConnectionError)")
        return "ok"


class Probe:
    """The gate's own question to the dependency (a HEAD of the bucket): down like `dep`."""

    def __init__(self, dep: Dependency) -> None:
        self.dep, self.calls = dep, 0

    def __call__(self) -> None:
        self.calls += 1
        if self.dep.down_from <= self.dep.clock.now < self.dep.down_until:
            raise StorageUnavailable("head bucket: cannot reach S3 (EndpointConnectionError)")


def make_gate(
    clock: Clock,
    *,
    threshold: int = 3,
    probe: float = 2.0,
    max_wait: float = 120.0,
    asks: Probe | None = None,
):
    from reelflow.core.outage import Gate

    breaker = Breaker(probe, threshold=threshold, clock=clock)
    return Gate(
        "S3",
        breaker,
        error_type=StorageUnavailable,
        max_wait=max_wait,
        probe=asks,
        sleep=clock.sleep,
    )


def retried(gate, fn, clock: Clock, *, retries: int = 3, delay: float = 1.0) -> tuple[str, int]:
    """What a task with `retries` does around the gate: (result, attempts made). Each attempt
    is one gate.call; its failure is re-raised to the task, which waits and tries again."""
    for attempt in range(1, retries + 2):
        try:
            return gate.call(fn), attempt
        except StorageUnavailable:
            if attempt > retries:
                raise
            clock.sleep(delay)
    raise AssertionError("unreachable")


def test_a_blip_below_the_threshold_is_left_to_the_retry_policy():
    clock = Clock()
    gate = make_gate(clock)
    dep = Dependency(clock, 0, float("inf"))
    for _ in range(2):
        with pytest.raises(StorageUnavailable, match="cannot reach S3"):
            gate.call(dep)
    assert gate.breaker.state == "closed" and clock.slept == 0 and gate.waits == 0


def test_a_success_resets_the_count_of_failures_in_a_row():
    clock = Clock()
    gate = make_gate(clock)
    flaky = Dependency(clock, 0, float("inf"))
    healthy = Dependency(clock, 0, 0)
    for _ in range(5):
        with pytest.raises(StorageUnavailable):
            gate.call(flaky)
        assert gate.call(healthy) == "ok"
    assert gate.breaker.state == "closed" and clock.slept == 0


@pytest.mark.parametrize(
    ("outage", "cooldown"),
    [(60.0, 2.0), (20.0, 5.0), (119.0, 2.0)],  # the last just within the 120 s a call is held
)
def test_an_outage_shorter_than_max_wait_holds_calls_and_never_repeats_one(outage, cooldown):
    clock = Clock()
    dep = Dependency(clock, clock.now, clock.now + outage)
    asks = Probe(dep)
    gate = make_gate(clock, probe=cooldown, asks=asks)
    # Three failures in a row open the breaker; each is raised to its task (a counted attempt).
    for _ in range(3):
        with pytest.raises(StorageUnavailable):
            gate.call(dep)
    assert gate.breaker.state == "open"
    # The next call is held, made once when a probe finds S3 back.
    assert gate.call(dep) == "ok"
    assert dep.calls == 4, "every call was made exactly once: the gate never re-attempts"
    assert 1000.0 + outage <= clock.now <= 1000.0 + outage + cooldown + gate.poll
    assert asks.calls <= outage / cooldown + 1, "while down, only the probes reach it"
    assert gate.waits == 1 and gate.probes == asks.calls
    assert gate.breaker.state == "closed" and gate.breaker.outage_seconds() == 0


def test_attempts_across_an_outage_are_the_tasks_own_and_counted():
    """Eight assets in flight when S3 goes down for 30 s: each makes its first call, then the
    failed ones retry (as their tasks do, after a backoff). Every call the gate makes is an
    attempt some task counted; the three that opened the breaker retried once; the rest were
    held and made one call each."""
    clock = Clock()
    dep = Dependency(clock, clock.now, clock.now + 30.0)
    gate = make_gate(clock, asks=Probe(dep))
    attempts = dict.fromkeys(range(8), 0)
    waiting = list(attempts)
    while waiting:
        failed = []
        for asset in waiting:
            attempts[asset] += 1
            try:
                assert gate.call(dep) == "ok"
            except StorageUnavailable:
                failed.append(asset)
        waiting = failed
        clock.sleep(1.0)  # the retry delay
    assert sum(attempts.values()) == dep.calls, "the gate made no call a task did not count"
    assert [attempts[a] for a in range(8)] == [2, 2, 2, 1, 1, 1, 1, 1]
    assert gate.waits == 1 and gate.breaker.state == "closed"


def test_without_a_probe_the_held_caller_is_the_probe_and_its_failure_is_counted():
    clock = Clock()
    gate = make_gate(clock, threshold=1)
    dep = Dependency(clock, clock.now, clock.now + 5.0)
    result, attempts = retried(gate, dep, clock, retries=3, delay=0.5)
    assert result == "ok" and attempts == dep.calls
    assert gate.probes == 0


def test_an_outage_past_max_wait_fails_naming_the_dependency_and_its_last_error():
    clock = Clock()
    dep = Dependency(clock, clock.now, float("inf"))
    gate = make_gate(clock, max_wait=30.0, asks=Probe(dep))
    for _ in range(3):
        with pytest.raises(StorageUnavailable):
            gate.call(dep)
    with pytest.raises(StorageUnavailable) as caught:
        gate.call(dep)
    message = str(caught.value)
    assert message.startswith("S3 has been unavailable for 3")
    assert "REELFLOW_OUTAGE_MAX_WAIT" in message and "EndpointConnectionError" in message
    assert 30.0 <= clock.now - 1000.0 < 30.0 + 2.0 + 1.0
    assert dep.calls == 3, "the held call was never made"
    # A caller arriving later fails at once (between probes) instead of waiting again.
    slept = clock.slept
    with pytest.raises(StorageUnavailable, match="has been unavailable"):
        gate.call(dep)
    assert clock.slept - slept <= gate.poll


@pytest.mark.parametrize(
    "cooldown", [0.1, 0.25, 2.0]
)  # probes due faster than, as, slower than a poll
def test_a_held_call_gives_up_after_max_wait_however_often_probes_are_due(cooldown):
    clock = Clock()
    dep = Dependency(clock, clock.now, float("inf"))
    asks = Probe(dep)
    gate = make_gate(clock, threshold=1, probe=cooldown, max_wait=1.0, asks=asks)
    with pytest.raises(StorageUnavailable):
        gate.call(dep)
    with pytest.raises(StorageUnavailable, match="has been unavailable for 1 s"):
        gate.call(dep)
    assert clock.now - 1000.0 < 1.0 + gate.poll + 0.01, "it stopped waiting at max_wait"
    assert dep.calls == 1, "the held call was never made"
    assert (asks.calls >= 1) == (cooldown < 1.0), "a probe whenever one was due before max_wait"


def test_after_giving_up_a_probe_still_finds_the_dependency_back():
    clock = Clock()
    dep = Dependency(clock, clock.now, clock.now + 15.0)
    gate = make_gate(clock, max_wait=10.0, asks=Probe(dep))
    for _ in range(3):
        with pytest.raises(StorageUnavailable):
            gate.call(dep)
    clock.now += 16.0  # the next run of the asset, after its backoff
    assert gate.call(dep) == "ok"
    assert gate.breaker.state == "closed"


def test_a_probe_answered_with_another_error_closes_the_breaker():
    clock = Clock()

    def refused() -> None:
        raise OriginRejected("403")  # S3 answered: it is up, this request is refused

    from reelflow.core.outage import Gate

    gate = Gate(
        "S3",
        Breaker(2.0, threshold=1, clock=clock),
        error_type=StorageUnavailable,
        max_wait=120.0,
        probe=refused,
        sleep=clock.sleep,
    )
    gate.breaker.failure("cannot reach S3")
    assert gate.call(lambda: "ok") == "ok"
    assert gate.breaker.state == "closed" and gate.probes == 1


def test_a_call_answered_with_another_error_closes_the_breaker():
    clock = Clock()
    gate = make_gate(clock, threshold=1)
    gate.breaker.failure("cannot reach S3")
    clock.now += 2.0  # the cooldown: with no probe, the next caller is the probe

    def rejected() -> str:
        raise OriginRejected("403")

    with pytest.raises(OriginRejected):
        gate.call(rejected)
    assert gate.breaker.state == "closed"


def test_other_errors_pass_through_untouched():
    clock = Clock()
    gate = make_gate(clock, threshold=1)

    def refused() -> str:
        raise OriginRejected("404")

    with pytest.raises(OriginRejected):
        gate.call(refused)
    assert gate.breaker.state == "closed" and gate.breaker.stats().failures == 0


def test_waiting_turned_off_reraises_at_once():
    clock = Clock()
    gate = make_gate(clock, threshold=1, max_wait=0)
    dep = Dependency(clock, clock.now, float("inf"))
    with pytest.raises(StorageUnavailable, match="cannot reach S3"):
        gate.call(dep)
    with pytest.raises(StorageUnavailable, match="has been unavailable"):
        gate.call(dep)
    assert clock.slept == 0 and dep.calls == 1


def test_breaker_threshold_counts_failures_in_a_row():
    clock = Clock()
    breaker = Breaker(5.0, threshold=3, clock=clock)
    breaker.failure("a")
    breaker.failure("b")
    assert breaker.state == "closed" and breaker.outage_seconds() == 0
    breaker.failure("c")
    assert breaker.state == "open"
    clock.now += 7
    assert breaker.allow()  # probe
    breaker.failure("d")  # a failed probe reopens at once, whatever the threshold
    assert breaker.state == "open" and breaker.outage_seconds() == 7
    clock.now += 5
    assert breaker.allow()
    breaker.success()
    assert breaker.state == "closed" and breaker.outage_seconds() == 0
    with pytest.raises(ValueError):
        Breaker(5.0, threshold=0)

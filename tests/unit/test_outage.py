"""Riding out an outage (reelflow.core.outage.Gate), driven by a fake clock: no test waits."""

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


def make_gate(clock: Clock, *, threshold: int = 3, probe: float = 2.0, max_wait: float = 120.0):
    from reelflow.core.outage import Gate

    breaker = Breaker(probe, threshold=threshold, clock=clock)
    return Gate("S3", breaker, error_type=StorageUnavailable, max_wait=max_wait, sleep=clock.sleep)


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
    ("outage", "probe", "calls_at_most"),
    [
        (60.0, 2.0, 3 + 60 / 2 + 1),  # the opening failures, one probe per cooldown, the last
        (20.0, 5.0, 3 + 20 / 5 + 1),
        (119.0, 2.0, 3 + 119 / 2 + 1),  # just within the 120 s the gate waits
    ],
)
def test_an_outage_shorter_than_max_wait_is_waited_out(outage, probe, calls_at_most):
    clock = Clock()
    gate = make_gate(clock, probe=probe)
    dep = Dependency(clock, clock.now, clock.now + outage)
    # The third failure in a row opens the breaker: that caller waits instead of failing.
    for _ in range(2):
        with pytest.raises(StorageUnavailable):
            gate.call(dep)
    assert gate.call(dep) == "ok"
    assert clock.now >= 1000.0 + outage
    assert clock.now <= 1000.0 + outage + probe + gate.poll, "back within a probe interval"
    assert dep.calls <= calls_at_most, "while down, only the probes reach it"
    assert gate.breaker.state == "closed" and gate.breaker.outage_seconds() == 0


def test_an_outage_past_max_wait_fails_naming_the_dependency_and_its_last_error():
    clock = Clock()
    gate = make_gate(clock, max_wait=30.0)
    dep = Dependency(clock, clock.now, float("inf"))
    for _ in range(2):
        with pytest.raises(StorageUnavailable):
            gate.call(dep)
    with pytest.raises(StorageUnavailable) as caught:
        gate.call(dep)
    message = str(caught.value)
    assert message.startswith("S3 has been unavailable for 3")
    assert "REELFLOW_OUTAGE_MAX_WAIT" in message and "EndpointConnectionError" in message
    assert 30.0 <= clock.now - 1000.0 < 30.0 + 2.0 + 1.0
    # A caller arriving later fails at once (between probes) instead of waiting again.
    slept = clock.slept
    with pytest.raises(StorageUnavailable, match="has been unavailable"):
        gate.call(dep)
    assert clock.slept - slept <= gate.poll


def test_after_giving_up_a_probe_still_finds_the_dependency_back():
    clock = Clock()
    gate = make_gate(clock, max_wait=10.0)
    dep = Dependency(clock, clock.now, clock.now + 15.0)
    for _ in range(3):
        with pytest.raises(StorageUnavailable):
            gate.call(dep)
    clock.now += 6.0  # the next run of the asset, after its backoff
    assert gate.call(dep) == "ok"
    assert gate.breaker.state == "closed"


def test_a_probe_answered_with_another_error_closes_the_breaker():
    clock = Clock()
    gate = make_gate(clock, threshold=1)
    gate.breaker.failure("cannot reach S3")
    clock.now += 2.0  # the cooldown: the next caller is the probe

    def rejected() -> str:
        raise OriginRejected("403")  # S3 answered: it is up, this request is refused

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
    with pytest.raises(StorageUnavailable, match="cannot reach S3"):
        gate.call(Dependency(clock, clock.now, float("inf")))
    assert clock.slept == 0


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

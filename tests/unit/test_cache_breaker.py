"""The Redis circuit breaker, driven by a fake clock."""

import pytest

from reelflow.core.breaker import Breaker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock():
    return Clock()


@pytest.fixture()
def changes():
    return []


@pytest.fixture()
def breaker(clock, changes):
    return Breaker(5.0, clock=clock, on_change=lambda old, new, why: changes.append((old, new)))


def test_closed_allows_every_call(breaker, changes):
    assert all(breaker.allow() for _ in range(3))
    breaker.success()
    assert breaker.state == "closed" and changes == []
    assert breaker.stats().attempts == 3


def test_one_failure_opens_and_then_no_attempts_are_made(breaker, clock, changes):
    assert breaker.allow()
    breaker.failure("ConnectionError")
    assert breaker.state == "open"
    clock.now += 4.9
    assert [breaker.allow() for _ in range(100)] == [False] * 100
    stats = breaker.stats()
    assert (stats.attempts, stats.skipped, stats.failures, stats.opened) == (1, 100, 1, 1)
    assert changes == [("closed", "open")], "logged once, not per request"


def test_half_open_lets_exactly_one_probe_through(breaker, clock, changes):
    breaker.allow()
    breaker.failure("down")
    clock.now += 5.0
    assert breaker.allow() is True  # the probe
    assert breaker.state == "half-open"
    assert breaker.allow() is False  # others wait for the probe's answer
    breaker.success()
    assert breaker.state == "closed"
    assert breaker.allow() is True
    assert changes == [("closed", "open"), ("open", "half-open"), ("half-open", "closed")]


def test_failed_probe_reopens_for_another_cooldown(breaker, clock, changes):
    breaker.allow()
    breaker.failure("down")
    clock.now += 5.0
    assert breaker.allow()
    breaker.failure("still down")
    assert breaker.state == "open"
    clock.now += 4.0
    assert not breaker.allow()
    clock.now += 1.0
    assert breaker.allow()
    assert breaker.stats().opened == 2
    assert changes == [
        ("closed", "open"),
        ("open", "half-open"),
        ("half-open", "open"),
        ("open", "half-open"),
    ]


def test_a_lost_probe_is_replaced_after_a_cooldown(breaker, clock):
    breaker.allow()
    breaker.failure("down")
    clock.now += 5.0
    assert breaker.allow()  # this probe never reports back
    clock.now += 1.0
    assert not breaker.allow()
    clock.now += 4.0
    assert breaker.allow()


def test_clock_going_back_does_not_keep_it_open_forever(breaker, clock):
    breaker.allow()
    breaker.failure("down")
    clock.now -= 3600
    assert breaker.allow()


@pytest.mark.parametrize("cooldown", [0, -1])
def test_cooldown_must_be_positive(cooldown):
    with pytest.raises(ValueError):
        Breaker(cooldown)

"""Backoff arithmetic and Retry-After parsing (reelflow.core.backoff), as tables."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from reelflow.core.backoff import backoff_delays, parse_retry_after


@pytest.mark.parametrize(
    ("retries", "base", "expected"),
    [(3, 1.0, [1.0, 2.0, 4.0]), (0, 1.0, []), (2, 0.05, [0.05, 0.1]), (3, 0.0, [0.0, 0.0, 0.0])],
)
def test_backoff_delays_double(retries: int, base: float, expected: list[float]) -> None:
    assert backoff_delays(retries, base) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0.0),
        ("5", 5.0),
        (" 5 ", 5.0),
        ("120", 60.0),
        ("-5", None),
        ("1.5", None),
        ("", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # in the past
        ("Thu, 01 Jan 2099 00:00:00 GMT", 60.0),
    ],
)
def test_parse_retry_after(value: str, expected: float | None) -> None:
    assert parse_retry_after(value, cap=60.0) == expected


def test_parse_retry_after_date_relative_to_now() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after(formatdate(now + 42, usegmt=True), now=now) == 42.0

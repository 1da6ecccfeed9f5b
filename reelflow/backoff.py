"""Backoff arithmetic, kept pure so it can be tested with a table."""

from __future__ import annotations

__all__ = ["backoff_delays"]


def backoff_delays(retries: int, base: float) -> list[float]:
    """Delays before retry 1..n: base, 2*base, 4*base, ... (the seed's 1 s, 2 s, 4 s)."""
    return [base * 2**attempt for attempt in range(retries)]

"""Backoff arithmetic and Retry-After parsing, kept pure so they can be tested with tables."""

from __future__ import annotations

import math
import time
from datetime import UTC
from email.utils import parsedate_to_datetime

__all__ = ["backoff_delays", "parse_retry_after"]


def backoff_delays(retries: int, base: float) -> list[float]:
    """Delays before retry 1..n: base, 2*base, 4*base, ... (the seed's 1 s, 2 s, 4 s)."""
    return [base * 2**attempt for attempt in range(retries)]


def parse_retry_after(
    value: str | None, *, cap: float = 60.0, now: float | None = None
) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP-date), capped.

    None when the header is missing or unreadable; never negative, never above `cap`.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    seconds: float
    if text.isascii() and text.isdigit():
        seconds = float(text)
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # "-0000": HTTP dates are GMT by definition
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), cap)

"""One size formatter for every report, table and log line."""

from __future__ import annotations

import pytest

from reelflow.core.units import human_size


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KB"),
        (3000, "2.9 KB"),
        (3_650_000, "3.5 MB"),
        (5 * 2**30, "5.0 GB"),
        (3 * 2**40, "3.0 TB"),
        (2**50, "1024.0 TB"),
    ],
)
def test_human_size(n, text):
    assert human_size(n) == text

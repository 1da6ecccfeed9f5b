"""Report tables put what failed, and why, before the key: the UI clips the last columns."""

from __future__ import annotations

from reelflow.core.reports import AssetLine


def test_status_and_error_come_before_the_key() -> None:
    line = AssetLine(movie_id="m", episode=1, kind="thumbnail", status="failed", error="404")
    columns = list(line.model_dump())
    assert columns.index("status") < columns.index("error") < columns.index("key")
    assert columns.index("attempts") < columns.index("key")

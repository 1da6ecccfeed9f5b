"""Dead letters, pure: when a failed asset is given up on (reelflow.core.rules.after_failure),
how reports count it and in which order rows are shown."""

from __future__ import annotations

import pytest

from reelflow.core.models import AssetJob, AssetOutcome
from reelflow.core.reports import attention_first, transfer_report
from reelflow.core.rules import FailedAs, after_failure

MAX = 3


@pytest.mark.parametrize(
    ("run", "status", "same_source", "retryable", "before", "expected"),
    [
        # a backfill: a terminal error gives up at once, whatever the count
        ("backfill", "failed", True, False, 0, FailedAs("abandoned", 1)),
        ("backfill", "pending", True, False, 0, FailedAs("abandoned", 1)),
        # a transient error: failed until the MAX-th failed backfill in a row
        ("backfill", "failed", True, True, 0, FailedAs("failed", 1)),
        ("backfill", "failed", True, True, MAX - 2, FailedAs("failed", MAX - 1)),
        ("backfill", "failed", True, True, MAX - 1, FailedAs("abandoned", MAX)),
        ("backfill", "failed", True, True, MAX + 4, FailedAs("abandoned", MAX + 5)),
        # stored but not shown (or marked missing by verify): the object does not serve
        ("backfill", "stored", True, True, 0, FailedAs("failed", 1)),
        # an import never abandons ...
        ("import", "pending", True, False, 0, FailedAs("failed", 0)),
        ("import", "failed", True, False, 2, FailedAs("failed", 2)),
        ("import", "failed", False, True, 2, FailedAs("failed", 0)),  # new URL: starts over
        # ... an abandoned asset stays abandoned on the same URL, a new URL re-arms it
        ("import", "abandoned", True, False, MAX, FailedAs("abandoned", MAX)),
        ("import", "abandoned", True, True, MAX, FailedAs("abandoned", MAX)),
        ("import", "abandoned", False, False, MAX, FailedAs("failed", 0)),
        # a stored asset whose new source failed still serves its object
        ("import", "stored", False, False, 0, FailedAs("stored", 0)),
        ("import", None, True, True, 0, FailedAs("failed", 0)),
    ],
)
def test_after_failure(run, status, same_source, retryable, before, expected):
    got = after_failure(
        run=run,
        status=status,
        same_source=same_source,
        retryable=retryable,
        backfill_failures=before,
        max_failures=MAX,
    )
    assert got == expected


def test_max_failures_of_one_abandons_on_the_first_failed_backfill():
    got = after_failure(
        run="backfill",
        status="failed",
        same_source=True,
        retryable=True,
        backfill_failures=0,
        max_failures=1,
    )
    assert got.status == "abandoned"


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (
            ["stored", "failed", "abandoned", "skipped"],
            ["abandoned", "failed", "stored", "skipped"],
        ),
        (["failed", "stored", "failed"], ["failed", "failed", "stored"]),
        ([None, "abandoned"], ["abandoned", None]),
    ],
)
def test_attention_first_orders_abandoned_then_failed_then_the_rest(statuses, expected):
    assert sorted(statuses, key=attention_first) == expected


def _outcome(n: int, status: str) -> AssetOutcome:
    job = AssetJob(episode_id=n, movie_id="m", number=n, kind="thumbnail", source_url="https://x")
    return AssetOutcome(job=job, status=status, error=None if status == "stored" else "e")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("statuses", "verdict", "ok"),
    [
        (["stored", "stored"], "Completed", True),
        (["stored", "abandoned"], "Partial", False),
        (["abandoned"], "Failed", False),
        ([], "Completed", True),  # only abandoned assets left: a backfill has nothing to do
    ],
)
def test_abandoned_outcomes_count_apart_and_fail_the_run_that_abandons(statuses, verdict, ok):
    report = transfer_report(
        [_outcome(n, s) for n, s in enumerate(statuses)], run="backfill", bucket="b", seconds=0
    )
    assert report.abandoned == statuses.count("abandoned")
    assert report.failed == statuses.count("failed")
    assert (report.verdict, report.ok) == (verdict, ok)


def test_capped_report_lines_keep_abandoned_then_failed_rows():
    outcomes = [_outcome(n, "stored") for n in range(5)]
    outcomes += [_outcome(10, "failed"), _outcome(11, "abandoned")]
    report = transfer_report(outcomes, run="backfill", bucket="b", seconds=0, max_lines=2)
    assert [line.status for line in report.lines] == ["abandoned", "failed"]
    assert "abandoned" in report.headline() and report.counts()["abandoned"] == 1

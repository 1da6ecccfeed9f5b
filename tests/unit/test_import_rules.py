"""The pure import rules (reelflow.core.rules) and the report rules (reelflow.core.reports):
what an import may skip, what a replacement owes, where a backfill reads, how a run ends."""

from __future__ import annotations

import pytest

from reelflow.core.errors import StepFailed, StepFailure, is_retryable
from reelflow.core.keys import AssetKind
from reelflow.core.models import AssetJob, AssetOutcome
from reelflow.core.reports import markdown, run_verdict, transfer_report
from reelflow.core.rules import already_stored, is_temporary, pick_source_url, replaced_object


@pytest.mark.parametrize(
    ("status", "stored_source", "wanted", "expected"),
    [
        ("stored", "https://cdn/a?sig=1", "https://cdn/a?sig=1", True),
        ("stored", "https://cdn/a?sig=1", "https://cdn/a?sig=2", False),  # a new URL: new bytes
        ("failed", "https://cdn/a", "https://cdn/a", False),
        ("pending", "https://cdn/a", "https://cdn/a", False),
        (None, None, "https://cdn/a", False),
    ],
)
def test_already_stored(status, stored_source, wanted, expected):
    assert already_stored(status, stored_source, wanted) is expected


NEW = ("bucket", "episode-thumbnails/m/ep1_thumb.webp")
OLD_JPG = ("bucket", "episode-thumbnails/m/ep1_thumb.jpg")


@pytest.mark.parametrize(
    ("previous", "expected"),
    [
        (None, None),  # first upload
        ((None, None), None),  # a row that never stored anything
        (NEW, None),  # same key: nothing left behind
        (OLD_JPG, OLD_JPG),  # the thumbnail moved from .jpg to .webp: the .jpg is owed
        (("old-bucket", NEW[1]), ("old-bucket", NEW[1])),  # moved bucket: the old one owes it
        (("bucket", None), None),
    ],
)
def test_replaced_object(previous, expected):
    assert replaced_object(previous, NEW) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [("https://cdn/a", True), ("s3://b/k", False), (None, False), ("", False)],
)
def test_is_temporary(url, expected):
    assert is_temporary(url) is expected


@pytest.mark.parametrize(
    ("current", "episode_source", "asset_source", "expected"),
    [
        ("https://cdn/a?sig=1", "https://cdn/a?sig=1", None, "https://cdn/a?sig=1"),
        ("s3://b/k", "https://cdn/new", "https://cdn/old", "https://cdn/new"),
        ("https://cdn/current", None, "https://cdn/old", "https://cdn/current"),
        ("s3://b/k", None, "https://cdn/old", "https://cdn/old"),
        ("s3://b/k", "s3://b/k", None, None),
        (None, None, None, None),
    ],
)
def test_pick_source_url(current, episode_source, asset_source, expected):
    assert pick_source_url(current, episode_source, asset_source) == expected


@pytest.mark.parametrize(
    ("failed", "succeeded", "expected"),
    [(0, 0, "Completed"), (0, 5, "Completed"), (1, 4, "Partial"), (3, 0, "Failed")],
)
def test_run_verdict(failed, succeeded, expected):
    assert run_verdict(failed=failed, succeeded=succeeded) == expected


def _outcome(n: int, kind: AssetKind, status: str, **kw) -> AssetOutcome:
    job = AssetJob(episode_id=n, movie_id="m", number=n, kind=kind, source_url="https://cdn/x")
    return AssetOutcome(job=job, status=status, **kw)  # type: ignore[arg-type]


def test_transfer_report_counts_bytes_and_puts_failures_first_when_capped():
    outcomes = [
        _outcome(1, "thumbnail", "stored", source_bytes=1000, bytes=250, uploaded=True),
        _outcome(2, "thumbnail", "skipped"),
        _outcome(3, "preview", "failed", error="download: OriginRejected: 404"),
    ]
    report = transfer_report(outcomes, run="import", bucket="b", seconds=1.5, movie_id="m")
    assert (report.assets, report.stored, report.skipped, report.failed) == (3, 1, 1, 1)
    assert (report.uploaded, report.source_bytes, report.stored_bytes) == (1, 1000, 250)
    assert report.percent_saved == 75.0 and report.verdict == "Partial"
    assert [line.episode for line in report.lines] == [3, 1, 2], "failed first, then in order"
    assert report.failure_messages() == ["m/ep3/preview failed: download: OriginRejected: 404"]
    capped = transfer_report(outcomes, run="backfill", bucket="b", seconds=1, max_lines=1)
    assert [line.status for line in capped.lines] == ["failed"] and capped.assets == 3


def test_markdown_renders_headline_notes_and_tables_escaping_pipes():
    text = markdown("Title", "all done", [{"a": 1, "b": "x|y"}], [], notes=["note one"])
    assert text.splitlines() == [
        "# Title",
        "",
        "all done",
        "",
        "- note one",
        "",
        "| a | b |",
        "|---|---|",
        "| 1 | x\\|y |",
    ]


@pytest.mark.parametrize(
    ("retryable", "expected"),
    [(True, True), (False, False)],
)
def test_a_step_failure_is_retryable_as_its_cause_was_and_pickles_whole(retryable, expected):
    import pickle

    error = StepFailed(StepFailure("upload", "StorageUnavailable: 503", 2, retryable))
    assert is_retryable(error) is expected
    again = pickle.loads(pickle.dumps(error))
    assert again.failure == error.failure and str(again) == "upload: StorageUnavailable: 503"

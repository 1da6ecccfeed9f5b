"""The pure import rules (reelflow.core.rules) and the report rules (reelflow.core.reports):
where an episode's assets come from, what an import may skip, what a replacement owes (a purge,
a CDN invalidation), where a backfill reads, how a run ends."""

from __future__ import annotations

import pytest

from reelflow.core.costs import Prices
from reelflow.core.errors import StepFailed, StepFailure, is_retryable
from reelflow.core.keys import AssetKind
from reelflow.core.models import AssetJob, AssetOutcome
from reelflow.core.reports import (
    TABLE_ROWS,
    markdown,
    render,
    run_verdict,
    transfer_ending,
    transfer_report,
)
from reelflow.core.rules import (
    already_stored,
    asset_sources,
    is_temporary,
    owes_invalidation,
    pick_source_url,
    replaced_object,
)

THUMB, CLIP, VIDEO = "https://cdn/t.jpg", "https://cdn/p.webm", "https://cdn/full.mp4"


@pytest.mark.parametrize(
    ("thumbnail", "preview", "video", "expected"),
    [
        (THUMB, CLIP, None, [("thumbnail", THUMB, False), ("preview", CLIP, False)]),
        (THUMB, CLIP, VIDEO, [("thumbnail", THUMB, False), ("preview", CLIP, False)]),
        (None, None, VIDEO, [("thumbnail", VIDEO, True), ("preview", VIDEO, True)]),  # poster, clip
        (THUMB, None, VIDEO, [("thumbnail", THUMB, False), ("preview", VIDEO, True)]),
        (None, CLIP, VIDEO, [("thumbnail", VIDEO, True), ("preview", CLIP, False)]),
        (THUMB, None, None, [("thumbnail", THUMB, False)]),
        (None, CLIP, None, [("preview", CLIP, False)]),
        (None, None, None, []),
        ("", "", VIDEO, [("thumbnail", VIDEO, True), ("preview", VIDEO, True)]),  # empty: none
    ],
)
def test_asset_sources(thumbnail, preview, video, expected):
    assert asset_sources(thumbnail, preview, video) == expected


SEED = ("bucket", "episode-previews/m/ep1_preview.webm")  # a ready-made preview: same key
CUT = ("bucket", "episode-previews/m/ep1_preview-clip-0123456789.mp4")  # versioned


@pytest.mark.parametrize(
    ("cdn", "uploaded", "previous", "new", "expected"),
    [
        (True, True, SEED, SEED, True),  # new bytes under the key a CDN may hold
        (False, True, SEED, SEED, False),  # no CDN in front
        (True, False, SEED, SEED, False),  # the same bytes were there: nothing uploaded
        (True, True, None, SEED, False),  # first upload: no cache holds it
        (True, True, (None, None), SEED, False),  # a row that never stored anything
        (True, True, ("old-bucket", SEED[1]), SEED, False),  # a new key (purged instead)
        (True, True, ("bucket", "episode-previews/m/ep1_preview.mp4"), SEED, False),
        (True, True, CUT, CUT, False),  # a versioned key's bytes never change
    ],
)
def test_owes_invalidation(cdn, uploaded, previous, new, expected):
    assert owes_invalidation(cdn=cdn, uploaded=uploaded, previous=previous, new=new) is expected


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


PRICES = Prices(
    storage_gb_month=0.023, egress_gb=0.09, views_per_episode_month=10, view_rung="large"
)


def test_an_import_ends_with_its_summary_table_and_errors_rendered_in_one_call():
    outcomes = [
        _outcome(1, "thumbnail", "stored", source_bytes=1000, bytes=250, uploaded=True),
        _outcome(3, "preview", "failed", error="download: OriginRejected: 404"),
    ]
    ending = transfer_ending(
        outcomes, PRICES, run="import", bucket="b", seconds=1.5, movie_id="M_1", episodes=3
    )
    report, artifacts = ending.report, ending.artifacts
    assert ending.headline == report.headline() and ending.headline.startswith("movie M_1: 2 ")
    assert (ending.verdict, ending.counts) == ("Partial", report.counts())
    assert ending.errors == ["m/ep3/preview failed: download: OriginRejected: 404"]
    assert (artifacts.key, artifacts.table_key) == ("import-summary-m-1", "import-report-m-1")
    assert artifacts.markdown.startswith("# Import of movie M_1\n\n" + ending.headline + "\n")
    assert "cost of these thumbnails" not in artifacts.markdown  # no renditions: no ladder
    assert [row["status"] for row in artifacts.table] == ["failed", "stored"]
    assert artifacts.table_description == ending.headline


def test_a_backfill_dry_run_lists_what_it_would_claim_and_logs_no_errors():
    listed = [
        {"movie_id": "m", "episode": 2, "kind": "thumbnail", "status": "missing", "error": None},
        {"movie_id": "m", "episode": 1, "kind": "preview", "status": "failed", "error": "boom"},
    ]
    ending = transfer_ending(
        (),
        PRICES,
        run="backfill",
        bucket="b",
        seconds=0.1234,
        dry_run=True,
        candidates=7,
        listed=listed,
    )
    assert ending.headline == "Dry run: 7 assets need a backfill" and ending.errors == []
    assert [line.episode for line in ending.report.lines] == [2, 1], "as listed"
    assert ending.report.seconds == 0.123 and ending.verdict == "Completed"
    artifacts = ending.artifacts
    assert (artifacts.key, artifacts.table_key) == ("backfill-summary", "backfill-report")
    assert artifacts.markdown.startswith("# Backfill (dry run)\n")
    assert [row["status"] for row in artifacts.table] == ["failed", "missing"]


def test_a_table_artifact_puts_what_needs_an_operator_first_and_says_when_capped():
    rows = [{"status": "stored", "n": n} for n in range(TABLE_ROWS)]
    rows += [{"status": "failed", "n": -1}, {"status": "abandoned", "n": -2}]
    artifacts = render("k", "T", "head", [{"a": 1}], table_key="t", table=rows)
    assert len(artifacts.table) == TABLE_ROWS
    assert [row["n"] for row in artifacts.table[:3]] == [-2, -1, 0]
    assert artifacts.table_description == (
        f"head (table: the first {TABLE_ROWS} of {TABLE_ROWS + 2} rows, abandoned and failed first)"
    )
    assert artifacts.markdown == markdown("T", "head", [{"a": 1}])
    assert render("k", "T", "head", table_key="t", table=[]).table_key is None  # no table


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

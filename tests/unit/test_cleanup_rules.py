"""The pure cleanup rules (reelflow.core.sweep, .purge): classification, the safety cap, purge
planning, batching."""

from __future__ import annotations

import datetime as dt

import pytest

from reelflow.core.purge import OwedKey, batched, plan_purge
from reelflow.core.reports import PurgeReport
from reelflow.core.sweep import (
    Census,
    ListedObject,
    as_utc,
    classify,
    cutoff_for,
    decide_cap,
    movie_of,
    within_budget,
)

NOW = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)
CUTOFF = NOW - dt.timedelta(hours=24)
OLD = CUTOFF - dt.timedelta(seconds=1)
YOUNG = CUTOFF + dt.timedelta(seconds=1)
THUMB = "episode-thumbnails/m1/ep1_thumb.webp"
PREVIEW = "episode-previews/m1/ep1_preview.webm"


@pytest.mark.parametrize(
    ("key", "modified", "referenced", "owed", "expected"),
    [
        (THUMB, OLD, {THUMB}, set(), "live"),
        (THUMB, YOUNG, {THUMB}, set(), "live"),
        (THUMB, OLD, {THUMB}, {THUMB}, "live"),  # referenced again: never deleted
        (THUMB, OLD, set(), set(), "orphan"),
        (THUMB, CUTOFF, set(), set(), "orphan"),  # exactly at the cut-off counts as old
        (THUMB, YOUNG, set(), set(), "young"),
        (THUMB, YOUNG, set(), {THUMB}, "owed"),  # owed: no grace period
        (PREVIEW, OLD, set(), set(), "orphan"),
        ("episode-thumbnails/m1/notes.txt", OLD, set(), set(), "foreign"),
        ("episode-thumbnails/m1/ep1_thumb.WEBP", OLD, set(), set(), "foreign"),
        ("episode-thumbnails/../secrets/ep1_thumb.webp", OLD, set(), set(), "foreign"),
        ("episode-thumbnails/m1/ep1_thumb.webp/", OLD, set(), set(), "foreign"),
        ("episode-thumbnails/m1/ep1_preview.webm", OLD, set(), set(), "foreign"),
        ("episode-previews/m1/ep1_thumb.webp", OLD, set(), set(), "foreign"),
        ("episode-thumbnails/m1/x.jpg", OLD, set(), {"episode-thumbnails/m1/x.jpg"}, "foreign"),
        ("episode-thumbnails/", OLD, set(), set(), "foreign"),
    ],
)
def test_classify(key, modified, referenced, owed, expected):
    obj = ListedObject(key=key, size=10, last_modified=modified)
    assert classify(obj, referenced=referenced, owed=owed, cutoff=CUTOFF) == expected


def test_classify_compares_instants_not_wall_clocks():
    # 13:00+02:00 is 11:00 UTC: older than a 12:00 UTC cut-off.
    plus2 = dt.timezone(dt.timedelta(hours=2))
    obj = ListedObject(THUMB, 1, dt.datetime(2026, 11, 24, 13, 0, tzinfo=plus2))
    assert classify(obj, referenced=(), owed=(), cutoff=NOW) == "orphan"
    naive = ListedObject(THUMB, 1, dt.datetime(2026, 11, 24, 12, 30))  # naive = UTC
    assert classify(naive, referenced=(), owed=(), cutoff=NOW) == "young"


@pytest.mark.parametrize(
    ("now", "grace", "expected"),
    [
        (NOW, 24, CUTOFF),
        (NOW, 0, NOW),
        (NOW, 0.5, NOW - dt.timedelta(minutes=30)),
        (NOW.replace(tzinfo=None), 1, NOW - dt.timedelta(hours=1)),
    ],
)
def test_cutoff(now, grace, expected):
    assert cutoff_for(now, grace) == expected
    assert cutoff_for(now, grace).tzinfo is not None


def test_negative_grace_is_refused():
    with pytest.raises(ValueError):
        cutoff_for(NOW, -1)


@pytest.mark.parametrize(
    (
        "listed",
        "managed",
        "live",
        "orphans",
        "references",
        "max_fraction",
        "force",
        "allowed",
        "forced",
        "says",
    ),
    [
        # the empty database: refused, and force does not help
        (100, 100, 0, 100, 0, 0.1, False, False, False, "wrong or an empty database"),
        (100, 100, 0, 100, 0, 0.1, True, False, False, "does not override"),
        (100, 100, 0, 0, 0, 0.1, False, False, False, "wrong or an empty database"),
        (100, 100, 0, 5, 0, 1.0, True, False, False, "wrong or an empty database"),
        # a database about something else: references, but none to what is listed
        (100, 100, 0, 100, 5000, 1.0, True, False, False, "references none of the 100"),
        (100, 100, 0, 1, 5000, 0.1, False, False, False, "is this the wrong database"),
        # only foreign objects listed and nothing recorded: nothing could be deleted anyway
        (3, 0, 0, 0, 0, 0.1, False, True, False, "nothing to delete"),
        # an empty bucket
        (0, 0, 0, 0, 0, 0.1, False, True, False, "nothing to delete"),
        (0, 0, 0, 0, 10, 0.1, False, True, False, "nothing to delete"),
        # the fraction cap
        (100, 100, 90, 10, 90, 0.1, False, True, False, "within"),  # exactly at the cap
        (100, 100, 89, 11, 89, 0.1, False, False, False, "more than the 10.0% cap"),
        (100, 100, 89, 11, 89, 0.1, True, True, True, "forced"),
        (1000, 1000, 999, 1, 999, 0.001, False, True, False, "within"),
        (1000, 1000, 998, 2, 998, 0.001, False, False, False, "--force"),
        (100, 100, 1, 99, 1, 1.0, False, True, False, "within"),
        # foreign objects count in the denominator (they were listed)
        (200, 100, 85, 15, 85, 0.1, False, True, False, "within"),
    ],
)
def test_decide_cap(
    listed, managed, live, orphans, references, max_fraction, force, allowed, forced, says
):
    decision = decide_cap(
        listed=listed,
        managed=managed,
        live=live,
        orphans=orphans,
        references=references,
        max_fraction=max_fraction,
        force=force,
    )
    assert (decision.allowed, decision.forced) == (allowed, forced)
    assert says in decision.reason
    assert decision.fraction == (orphans / listed if listed else 0.0)


@pytest.mark.parametrize(
    "counts",
    [
        {"listed": 10, "managed": 11, "live": 0, "orphans": 0, "references": 1},
        {"listed": 10, "managed": 5, "live": 0, "orphans": 6, "references": 1},
        {"listed": 10, "managed": 5, "live": 3, "orphans": 3, "references": 1},
        {"listed": -1, "managed": 0, "live": 0, "orphans": 0, "references": 1},
    ],
)
def test_decide_cap_rejects_inconsistent_counts(counts):
    with pytest.raises(ValueError):
        decide_cap(**counts, max_fraction=0.1, force=False)


@pytest.mark.parametrize("max_fraction", [0, -0.1, 1.01])
def test_decide_cap_rejects_bad_fraction(max_fraction):
    with pytest.raises(ValueError):
        decide_cap(
            listed=1,
            managed=1,
            live=1,
            orphans=0,
            references=1,
            max_fraction=max_fraction,
            force=False,
        )


@pytest.mark.parametrize(
    ("keys", "remaining", "take", "later"),
    [
        (["a", "b", "c"], 5, ["a", "b", "c"], []),
        (["a", "b", "c"], 2, ["a", "b"], ["c"]),
        (["a", "b", "c"], 0, [], ["a", "b", "c"]),
        (["a", "b", "c"], -3, [], ["a", "b", "c"]),
        ([], 4, [], []),
    ],
)
def test_within_budget(keys, remaining, take, later):
    assert within_budget(keys, remaining) == (take, later)


def test_plan_purge_never_deletes_referenced_or_unmanaged_keys():
    rows = [
        OwedKey(1, "b", THUMB),
        OwedKey(2, "b", PREVIEW),
        OwedKey(3, "other", THUMB),  # same key, another bucket: not referenced there
        OwedKey(4, "b", "uploads/private.pdf"),
        OwedKey(5, "b", "episode-thumbnails/m1/readme.txt"),
    ]
    plan = plan_purge(rows, {("b", PREVIEW)})
    assert [r.id for r in plan.delete] == [1, 3]
    assert [r.id for r in plan.revived] == [2]
    assert [r.id for r in plan.refused] == [4, 5]


@pytest.mark.parametrize(
    ("n", "size", "lengths"),
    [(0, 3, []), (1, 3, [1]), (3, 3, [3]), (7, 3, [3, 3, 1]), (2500, 1000, [1000, 1000, 500])],
)
def test_batched(n, size, lengths):
    batches = list(batched(range(n), size))
    assert [len(b) for b in batches] == lengths
    assert [x for b in batches for x in b] == list(range(n))


def test_batched_rejects_zero():
    with pytest.raises(ValueError):
        list(batched([1], 0))


def test_census_keeps_counts_and_a_bounded_sample():
    census = Census(sample_limit=3)
    for n in range(1000):
        census.add(ListedObject(f"episode-thumbnails/m/ep{n}_thumb.webp", n, OLD), "orphan")
    census.add(ListedObject("x/readme", 7, OLD), "foreign")
    assert census.count("orphan") == 1000
    assert census.tallies["orphan"].bytes == sum(range(1000))
    assert len(census.tallies["orphan"].samples) == 3
    assert (census.listed, census.managed, census.listed_bytes) == (
        1001,
        1000,
        sum(range(1000)) + 7,
    )


@pytest.mark.parametrize(
    ("key", "movie"),
    [(THUMB, "m1"), (PREVIEW, "m1"), ("episode-thumbnails/m1/readme.txt", None), ("m1", None)],
)
def test_movie_of(key, movie):
    assert movie_of(key) == movie


@pytest.mark.parametrize(
    ("report", "text"),
    [
        (PurgeReport(deleted=26), "Cleaned up 26 files from S3"),
        (PurgeReport(deleted=24, failed=2), "2 could not be deleted (kept in purge_queue"),
        (PurgeReport(revived=1), "1 are in use again (kept)"),
        (PurgeReport(refused=1), "1 refused (not a managed key)"),
    ],
)
def test_purge_headline(report, text):
    assert text in report.headline()
    assert report.ok == (report.failed == 0 and report.refused == 0)


def test_as_utc():
    assert as_utc(dt.datetime(2026, 1, 1)).tzinfo == dt.UTC
    assert as_utc(NOW) == NOW

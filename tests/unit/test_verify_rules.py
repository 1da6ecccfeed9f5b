"""Verification, pure (reelflow.core.verify.judge): what is wrong with a stored object."""

from __future__ import annotations

import pytest

from reelflow.core.verify import NOT_CHECKED, describe, judge

SHA = "a" * 64
OTHER = "b" * 64


@pytest.mark.parametrize(
    ("recorded_bytes", "recorded_sha", "listed", "found", "expected"),
    [
        (100, SHA, 100, SHA, None),  # all good
        (100, SHA, 100, NOT_CHECKED, None),  # size-only: the size matches
        (100, SHA, None, NOT_CHECKED, "missing"),  # not listed
        (100, SHA, None, SHA, "missing"),  # not listed wins over a stale HEAD
        (100, SHA, 99, NOT_CHECKED, "size"),  # truncated or replaced
        (100, SHA, 101, SHA, "size"),  # the size differs even if the metadata agrees
        (100, SHA, 100, OTHER, "sha256"),  # overwritten with other bytes of the same size
        (100, SHA, 100, None, "sha256"),  # no sha256 metadata: not an object we wrote
        (None, SHA, 5, SHA, None),  # an unknown recorded size is not held against it
        (100, None, 100, OTHER, None),  # an unknown recorded sha256 neither
        (0, SHA, 0, SHA, None),  # an empty object is still an object
    ],
)
def test_judge(recorded_bytes, recorded_sha, listed, found, expected):
    assert judge(recorded_bytes, recorded_sha, listed, found) == expected


@pytest.mark.parametrize(
    ("problem", "words"),
    [("missing", "missing"), ("size", "99 bytes, the database recorded 100"), ("sha256", "sha256")],
)
def test_describe_names_the_problem_and_the_object(problem, words):
    text = describe(problem, 100, 99, "bkt", "episode-thumbnails/m/ep1_thumb.webp")
    assert words in text and "s3://bkt/episode-thumbnails/m/ep1_thumb.webp" in text

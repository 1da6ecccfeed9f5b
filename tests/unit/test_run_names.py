"""The movie a managed key belongs to (purge runs are named after it: flows/common/naming.py)."""

from __future__ import annotations

import pytest

from reelflow.core.keys import movie_of_key


@pytest.mark.parametrize(
    ("key", "movie"),
    [
        ("episode-thumbnails/m-1/ep3_thumb.webp", "m-1"),
        ("episode-previews/123/ep1_preview.mp4", "123"),
        ("s3://bucket/episode-previews/abc_d/ep10_preview.webm", "abc_d"),
        ("episode-thumbnails/m-1/notes.txt", None),
        ("uploads/m-1/ep1_thumb.webp", None),
        ("s3://bucket/other/key", None),
        ("", None),
    ],
)
def test_movie_of_key(key: str, movie: str | None) -> None:
    assert movie_of_key(key) == movie

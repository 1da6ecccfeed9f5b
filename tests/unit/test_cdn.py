"""CDN invalidation decisions (reelflow.core.cdn) as plain tables."""

from __future__ import annotations

import pytest

from reelflow.core.cdn import batches, caller_reference, cdn_path, versioned


@pytest.mark.parametrize(
    ("key", "path"),
    [
        ("episode-previews/m1/ep3_preview.webm", "/episode-previews/m1/ep3_preview.webm"),
        ("episode-thumbnails/a b/ep1_thumb.webp", "/episode-thumbnails/a%20b/ep1_thumb.webp"),
    ],
)
def test_paths_are_the_keys_percent_encoded(key, path):
    assert cdn_path(key) == path


@pytest.mark.parametrize(
    ("key", "is_versioned"),
    [
        ("episode-thumbnails/m/ep1_thumb-large-0123456789.webp", True),
        ("episode-previews/m/ep1_preview-clip-0123456789.mp4", True),
        ("episode-previews/m/ep1_preview.webm", False),
        ("episode-thumbnails/m/ep1_thumb.webp", False),
    ],
)
def test_which_keys_carry_a_content_version(key, is_versioned):
    assert versioned(key) is is_versioned


def test_batches_are_deduplicated_sorted_and_bounded():
    paths = [f"/k{i:04d}" for i in range(2500)] + ["/k0001"]
    found = batches(paths, 1000)
    assert [len(b) for b in found] == [1000, 1000, 500]
    assert found[0][0] == "/k0000" and found[-1][-1] == "/k2499"


def test_the_same_paths_give_the_same_reference_in_any_order():
    assert caller_reference(["/a", "/b"]) == caller_reference(["/b", "/a", "/a"])
    assert caller_reference(["/a"]) != caller_reference(["/a", "/b"])
    assert len(caller_reference(["/a"])) <= 128

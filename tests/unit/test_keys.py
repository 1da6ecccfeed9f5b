import pytest

from reelflow.core.errors import InvalidKey
from reelflow.core.keys import (
    MANAGED_PREFIXES,
    asset_key,
    check_managed_key,
    is_managed_key,
    parse_s3_url,
    safe_movie_id,
)


@pytest.mark.parametrize(
    ("kind", "movie", "number", "ext", "expected"),
    [
        ("thumbnail", "123", 1, "webp", "episode-thumbnails/123/ep1_thumb.webp"),
        ("thumbnail", "m_1-a", 12, "JPG", "episode-thumbnails/m_1-a/ep12_thumb.jpg"),
        ("preview", "abc", 3, "webm", "episode-previews/abc/ep3_preview.webm"),
        ("preview", "abc", 0, ".mp4", "episode-previews/abc/ep0_preview.mp4"),
    ],
)
def test_seed_key_layout(kind, movie, number, ext, expected):
    assert asset_key(kind, movie, number, ext) == expected


@pytest.mark.parametrize(
    "movie",
    [
        "..",
        "../etc",
        "a/b",
        "a\\b",
        "%2e%2e",
        "",
        " a",
        "a b",
        "-leading-dash",
        "x" * 129,
        "café",
        "a\x00b",
        "episode-thumbnails/../../x",
    ],
)
def test_movie_ids_that_could_escape_are_refused(movie):
    with pytest.raises(InvalidKey):
        safe_movie_id(movie)
    with pytest.raises(InvalidKey):
        asset_key("thumbnail", movie, 1, "webp")


@pytest.mark.parametrize(
    ("number", "ext"),
    [(-1, "webp"), (10**7, "webp"), (True, "webp"), (1, "we/bp"), (1, ""), (1, "..")],
)
def test_bad_numbers_and_extensions_are_refused(number, ext):
    with pytest.raises(InvalidKey):
        asset_key("thumbnail", "m1", number, ext)


def test_unknown_kind_is_refused():
    with pytest.raises(InvalidKey):
        asset_key("poster", "m1", 1, "webp")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("key", "managed"),
    [
        ("episode-thumbnails/m1/ep1_thumb.webp", True),
        ("episode-previews/m1/ep2_preview.webm", True),
        ("episode-thumbnails/m1/ep1_preview.webm", False),
        ("episode-thumbnails/m1/../x/ep1_thumb.webp", False),
        ("episode-thumbnails/ep1_thumb.webp", False),
        ("other/m1/ep1_thumb.webp", False),
        ("episode-thumbnails-evil/m1/ep1_thumb.webp", False),
        ("episode-thumbnails/m1/ep1_thumb.webp/extra", False),
    ],
)
def test_only_exact_managed_shapes_count_as_managed(key, managed):
    assert is_managed_key(key) is managed
    if managed:
        assert check_managed_key(key) == key
        assert key.startswith(MANAGED_PREFIXES)
    else:
        with pytest.raises(InvalidKey):
            check_managed_key(key)


@pytest.mark.parametrize(
    ("url", "parsed"),
    [
        (
            "s3://bucket/episode-thumbnails/m/ep1_thumb.webp",
            ("bucket", "episode-thumbnails/m/ep1_thumb.webp"),
        ),
        ("https://cdn/x.jpg", None),
        ("s3://bucket", None),
        ("s3:///key", None),
    ],
)
def test_parse_s3_url(url, parsed):
    assert parse_s3_url(url) == parsed

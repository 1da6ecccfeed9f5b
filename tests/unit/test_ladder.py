import pytest

from reelflow.core.errors import InvalidKey
from reelflow.core.keys import is_managed_key, movie_of_key, rendition_key
from reelflow.core.ladder import (
    DEFAULT_LADDER,
    LEGACY_LARGE,
    Ladder,
    Rung,
    content_version,
    parse_ladder,
    spec_digest,
)


def test_default_ladder_is_large_medium_small():
    rungs = parse_ladder(DEFAULT_LADDER)
    assert [(r.name, r.max_width, r.max_height) for r in rungs] == [
        ("large", 1280, 720),
        ("medium", 640, 360),
        ("small", 320, 180),
    ]
    # The former single size is the default large rung: migrated thumbnails stay current.
    large = Ladder(rungs).specs()[0]
    assert large.digest == spec_digest(*LEGACY_LARGE)


@pytest.mark.parametrize(
    ("text", "wrong"),
    [
        ("large:1280x720", "large:1280x720"),
        ("large:1280x720@85,Big:10x10@80", "Big:10x10@80"),
        ("large:1280*720@85", "large:1280*720@85"),
        ("", "at least one rung"),
    ],
)
def test_bad_ladders_name_the_wrong_part(text, wrong):
    with pytest.raises(ValueError, match=wrong.replace("*", r"\*")):
        parse_ladder(text)


@pytest.mark.parametrize(
    "rungs",
    [
        (Rung("a", 10, 10, 80), Rung("a", 5, 5, 80)),  # repeated name
        (Rung("a", 10, 10, 80), Rung("b", 20, 20, 80)),  # not largest first
        (),
    ],
)
def test_ladder_refuses_repeats_and_wrong_order(rungs):
    with pytest.raises(ValueError):
        Ladder(rungs)


def test_avif_doubles_the_specs_and_only_changed_rungs_are_stale():
    rungs = parse_ladder(DEFAULT_LADDER)
    webp_only = Ladder(rungs)
    both = Ladder(rungs, avif=True, avif_quality=50)
    assert [s.ident for s in both.specs()] == [
        ("large", "webp"),
        ("large", "avif"),
        ("medium", "webp"),
        ("medium", "avif"),
        ("small", "webp"),
        ("small", "avif"),
    ]
    stored = webp_only.digests()
    assert webp_only.stale(stored) == ()
    assert [s.ident for s in both.stale(stored)] == [
        ("large", "avif"),
        ("medium", "avif"),
        ("small", "avif"),
    ]
    changed = Ladder(parse_ladder("large:1280x720@85,medium:640x360@70,small:320x180@80"))
    assert [s.ident for s in changed.stale(stored)] == [("medium", "webp")]


def test_content_version_changes_with_source_and_spec():
    a = content_version("a" * 64, "d1")
    assert len(a) == 10
    assert a == content_version("a" * 64, "d1")
    assert a != content_version("b" * 64, "d1")
    assert a != content_version("a" * 64, "d2")


def test_rendition_keys_are_managed_and_checked():
    key = rendition_key("m1", 3, "small", "0123456789", "webp")
    assert key == "episode-thumbnails/m1/ep3_thumb-small-0123456789.webp"
    assert is_managed_key(key)
    assert movie_of_key(key) == "m1"
    for bad in [
        ("m1", 3, "Small", "0123456789", "webp"),
        ("m1", 3, "small", "xyz", "webp"),
        ("../m", 3, "small", "0123456789", "webp"),
        ("m1", 3, "small", "0123456789", "a/b"),
    ]:
        with pytest.raises(InvalidKey):
            rendition_key(*bad)
    assert not is_managed_key("episode-thumbnails/m1/ep3_thumb-small-01234.webp")
    assert not is_managed_key("episode-thumbnails/m1/ep3_thumb-small-0123456789-x.webp")

import json

import pytest

from reelflow.core.errors import ManifestError
from reelflow.core.manifest import load_manifest, parse_manifest

GOOD = {
    "movie_id": "m-1",
    "title": "A movie",
    "episodes": [
        {
            "number": 1,
            "title": "One",
            "thumbnail_url": "https://cdn.example/1.jpg",
            "video_preview_url": "https://cdn.example/1.webm",
        },
        {"number": 2, "title": "Two", "thumbnail_url": "https://cdn.example/2.jpg"},
    ],
}


def test_good_manifest_parses():
    manifest = parse_manifest(GOOD)
    assert manifest.movie_id == "m-1"
    assert [e.number for e in manifest.episodes] == [1, 2]
    assert manifest.episodes[1].video_preview_url is None


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda m: m.pop("movie_id"), "movie_id"),
        (lambda m: m.update(movie_id="../etc"), "movie_id"),
        (lambda m: m["episodes"][0].update(number="one"), "episodes.0.number"),
        (lambda m: m["episodes"][0].update(number=-1), "episodes.0.number"),
        (
            lambda m: m["episodes"][1].update(thumbnail_url="file:///etc/passwd"),
            "episodes.1.thumbnail_url",
        ),
        (lambda m: m["episodes"][0].update(surprise=1), "episodes.0.surprise"),
        (lambda m: m["episodes"][1].update(number=1), "number 1 appears twice"),
        (lambda m: m.update(episodes="nope"), "episodes"),
    ],
)
def test_bad_manifest_names_the_field(mutate, field):
    data = json.loads(json.dumps(GOOD))
    mutate(data)
    with pytest.raises(ManifestError) as info:
        parse_manifest(data)
    assert field in str(info.value)


def test_load_manifest_reports_json_errors(tmp_path):
    path = tmp_path / "m.json"
    path.write_text('{"movie_id": "m1", ')
    with pytest.raises(ManifestError, match="not JSON"):
        load_manifest(path)
    with pytest.raises(ManifestError, match="cannot read"):
        load_manifest(tmp_path / "missing.json")

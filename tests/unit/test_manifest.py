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


# --- strict parsing: what is stored is exactly what was sent ---------------------------------


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda m: m["episodes"][0].update(number="5"), "episodes.0.number"),
        (lambda m: m["episodes"][0].update(number=6.0), "episodes.0.number"),
        (lambda m: m["episodes"][0].update(number=True), "episodes.0.number"),
        (lambda m: m.update(movie_id="  m-1  "), "movie_id"),  # never trimmed into "m-1"
        (lambda m: m.update(movie_id="m-1\x00"), "movie_id"),
        (lambda m: m.update(title="A\x00movie"), "title"),
        (lambda m: m["episodes"][0].update(title="One\x1b[2J"), "episodes.0.title"),
        (
            lambda m: m["episodes"][0].update(thumbnail_url="https://cdn.example/1.jpg\x00"),
            "episodes.0.thumbnail_url",
        ),
        (
            lambda m: m["episodes"][1].update(thumbnail_url=" https://cdn.example/2.jpg"),
            "episodes.1.thumbnail_url",
        ),
    ],
)
def test_no_coercion_no_trimming_no_control_characters(mutate, field):
    data = json.loads(json.dumps(GOOD))
    mutate(data)
    with pytest.raises(ManifestError) as info:
        parse_manifest(data)
    assert field in str(info.value)
    assert "\x00" not in str(info.value), "the message never echoes the input"


def _write(tmp_path, raw: bytes):
    path = tmp_path / "m.json"
    path.write_bytes(raw)
    return path


GOOD_TEXT = json.dumps({"movie_id": "m-1", "title": "Café", "episodes": []}, ensure_ascii=False)

BAD_FILES = [
    pytest.param(GOOD_TEXT.encode("latin-1"), "not UTF-8", id="latin-1"),
    pytest.param(GOOD_TEXT.encode("utf-16"), "UTF-16 byte-order mark", id="utf-16"),
    pytest.param(GOOD_TEXT.encode("utf-16-le"), "NUL bytes", id="utf-16-le-no-bom"),
    pytest.param(b"\xef\xbb\xbf" + GOOD_TEXT.encode(), "UTF-8 byte-order mark", id="utf-8-bom"),
    pytest.param(
        b'{"movie_id": "m", "episodes": [{"number": ' + b"9" * 5000 + b"}]}",
        "5000 digits",
        id="huge-integer",
    ),
    pytest.param(b"[" * 100_000 + b"]" * 100_000, "nested too deeply", id="deep-nesting"),
    pytest.param(b"[]", "top level must be an object", id="top-level-array"),
    pytest.param(b'"m-1"', "top level must be an object", id="top-level-string"),
    pytest.param(b'{"movie_id": "m", "title": NaN}', "NaN is not JSON", id="nan"),
    pytest.param(b"", "not JSON", id="empty"),
    pytest.param(b"\x00\x01\x02", "NUL bytes", id="binary"),
    pytest.param(b"\x89PNG\r\n\x1a\n", "not UTF-8", id="png"),
]


@pytest.mark.parametrize(("raw", "problem"), BAD_FILES)
def test_any_file_is_one_clear_error(tmp_path, raw: bytes, problem: str):
    with pytest.raises(ManifestError) as info:
        load_manifest(_write(tmp_path, raw))
    assert problem in str(info.value)
    assert len(str(info.value).splitlines()) == 1


@pytest.mark.parametrize(("raw", "problem"), BAD_FILES)
def test_the_cli_exits_2_with_one_line_and_no_traceback(tmp_path, raw: bytes, problem: str):
    from typer.testing import CliRunner

    from reelflow.cli.main import app

    result = CliRunner().invoke(app, ["import", str(_write(tmp_path, raw))])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and problem in lines[0]


def test_a_utf8_manifest_with_non_ascii_text_loads(tmp_path):
    manifest = load_manifest(_write(tmp_path, GOOD_TEXT.encode("utf-8")))
    assert manifest.title == "Café"

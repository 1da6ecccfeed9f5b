"""The reelflow CLI as a user meets it: clear errors, exit codes, JSON output."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from reelflow.adapters.db.migrate import head_revision
from reelflow.cli.main import app
from reelflow.devtools.origin import Origin
from reelflow.services import reset
from tests.support.movies import serve_movie

runner = CliRunner()


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ('{"title": "x", "episodes": []}', "movie_id"),
        ('{"movie_id": "m1", "episodes": [{"number": "one"}]}', "episodes.0.number"),
        (
            '{"movie_id": "m1", "episodes": [{"number": 1, "thumbnail_url": "gopher://x"}]}',
            "episodes.0.thumbnail_url",
        ),
        ('{"movie_id": "../../etc", "episodes": []}', "movie_id"),
        ("[1, 2", "not JSON"),
    ],
)
def test_malformed_manifest_names_the_field_and_exits_non_zero(tmp_path, manifest, message):
    path = tmp_path / "m.json"
    path.write_text(manifest)
    result = runner.invoke(app, ["import", str(path)])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_missing_manifest_file(tmp_path):
    result = runner.invoke(app, ["import", str(tmp_path / "nope.json")])
    assert result.exit_code == 2 and "cannot read manifest" in result.output


def test_import_refuses_a_database_without_schema(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    reset()
    path = tmp_path / "m.json"
    path.write_text('{"movie_id": "m1", "episodes": []}')
    result = runner.invoke(app, ["import", str(path)])
    assert result.exit_code == 2 and "reelflow db upgrade" in result.output


def test_db_upgrade_then_config_hides_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    monkeypatch.setenv("S3_SECRET_ACCESS_KEY", "top-secret-value")
    reset()
    first = runner.invoke(app, ["db", "upgrade"])
    second = runner.invoke(app, ["db", "upgrade"])
    assert first.exit_code == second.exit_code == 0
    assert f"revision {head_revision()}" in first.output
    config = runner.invoke(app, ["config"])
    assert config.exit_code == 0
    assert "top-secret-value" not in config.output and "**********" in config.output


@pytest.mark.usefixtures("prefect_server")
def test_import_prints_json_summary_and_exit_code(env, tmp_path):
    with Origin() as origin:
        data = serve_movie(origin, "mv-cli", 2)
        data["episodes"][1]["thumbnail_url"] = origin.url("/missing.jpg")
        path = tmp_path / "m.json"
        path.write_text(json.dumps(data))
        result = runner.invoke(app, ["import", str(path), "--json"])
    assert result.exit_code == 1, "a partial import exits non-zero"
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert (summary["stored"], summary["failed"]) == (3, 1)
    failed = [line for line in summary["lines"] if line["status"] == "failed"]
    assert failed[0]["episode"] == 2 and "404" in failed[0]["error"]


def test_unreachable_database_is_one_line_not_a_traceback(tmp_path):
    import os
    import subprocess
    import sys

    from reelflow.devtools.s3server import free_port

    path = tmp_path / "m.json"
    path.write_text('{"movie_id": "m1", "episodes": []}')
    env = {
        **os.environ,
        "DATABASE_URL": f"postgresql+psycopg://nobody:pw-not-shown@127.0.0.1:{free_port()}/x",
    }
    result = subprocess.run(
        [sys.executable, "-m", "reelflow.cli.main", "import", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, "a service that cannot be reached: the work failed"
    assert "cannot use the database" in result.stderr and "Connection refused" in result.stderr
    assert "Traceback" not in result.stderr and "pw-not-shown" not in result.stderr

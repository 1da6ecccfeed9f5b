"""Expected outcomes never reach the user as a traceback: a blocked URL, missing credentials, a
refused sweep and an unreachable service each end as one clear line (and, for a flow, a
Failed state with its message), with the exit code of reelflow.core.errors (1 work failed,
2 bad input or configuration). A bug still keeps its traceback in the log.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from prefect import flow, task
from typer.testing import CliRunner

from reelflow.cli.main import app
from reelflow.core.errors import MissingCredentials, OriginRejected, StorageRejected
from reelflow.devtools.origin import Origin
from reelflow.devtools.s3server import free_port
from reelflow.services import reset, resources
from reelflow.settings import get_settings
from tasks.log import quiet_expected_errors
from tests.support.s3_client import s3_client

pytestmark = pytest.mark.usefixtures("prefect_server")


class Records(logging.Handler):
    """Every record Prefect's run loggers emit, after their filters."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture()
def run_logs() -> Iterator[Records]:
    handler = Records()
    loggers = [logging.getLogger(n) for n in ("prefect.task_runs", "prefect.flow_runs")]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)


def _manifest(tmp_path, episodes: list[dict]) -> str:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"movie_id": "mv-expected", "episodes": episodes}))
    return str(path)


def test_a_blocked_url_fails_its_asset_in_one_line_without_a_traceback(env, tmp_path, run_logs):
    path = _manifest(
        tmp_path,
        [{"number": 1, "thumbnail_url": "http://169.254.169.254/latest/meta-data/x.jpg"}],
    )
    result = CliRunner().invoke(app, ["import", path])
    assert result.exit_code == 1, result.output
    assert "download: BlockedURL" in result.output and "Traceback" not in result.output
    failed = [r for r in run_logs.records if r.levelno >= logging.ERROR]
    assert failed and all("BlockedURL" in r.getMessage() for r in failed)
    assert all(r.exc_info is None for r in run_logs.records), "expected errors: no traceback"


def test_missing_s3_credentials_are_terminal_and_one_line(env, tmp_path, monkeypatch):
    for name in ("S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    reset()
    with Origin() as origin:
        from reelflow.devtools.media import photo_jpeg

        origin.add("/t.jpg", photo_jpeg(width=64, height=36, seed=1), "image/jpeg")
        path = _manifest(tmp_path, [{"number": 1, "thumbnail_url": origin.url("/t.jpg")}])
        result = CliRunner().invoke(app, ["import", "--json", path])
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    (line,) = report["lines"]
    assert line["status"] == "failed" and line["attempts"] == 1, "not retried: it cannot change"
    assert (
        line["error"].startswith("upload: MissingCredentials: ")
        and "S3_ACCESS_KEY_ID" in line["error"]
    )


def test_a_refused_sweep_is_one_line_exit_1_and_a_failed_run(env):
    client = s3_client()
    bucket = get_settings().s3_bucket_name
    for n in range(3):  # managed keys, but the database references nothing in this bucket
        client.put_object(Bucket=bucket, Key=f"episode-thumbnails/mv-x/ep{n}_thumb.webp", Body=b"x")
    result = CliRunner().invoke(app, ["cleanup", "orphans", "--execute"])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "refusing to sweep" in errors[0]
    assert "Traceback" not in result.output
    assert len(list(client.list_objects_v2(Bucket=bucket).get("Contents", []))) == 3


def test_an_unreachable_prefect_api_is_one_line_exit_1(tmp_path):
    path = _manifest(tmp_path, [{"number": 1, "thumbnail_url": "https://cdn.example/1.jpg"}])
    env = {**os.environ, "PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api"}
    result = subprocess.run(
        [sys.executable, "-m", "reelflow.cli.main", "import", path, "--submit"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("error:") == 1 and "Prefect API" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("error", "traceback_kept"),
    [
        (OriginRejected("HTTP 404"), False),
        (StorageRejected("S3 refused (AccessDenied)"), False),
        (MissingCredentials("no S3 credentials"), False),
        (ZeroDivisionError("a bug"), True),
    ],
)
def test_only_bugs_keep_their_traceback_in_the_run_log(error, traceback_kept, run_logs):
    quiet_expected_errors()

    @task(name="raises")
    def raises() -> None:
        raise error

    @flow(name="expected-errors")
    def run() -> None:
        raises(return_state=True)

    run()
    task_records = [r for r in run_logs.records if r.name == "prefect.task_runs"]
    failed = [r for r in task_records if "Task run failed" in r.getMessage()]
    finished = [r for r in task_records if "Finished in state Failed" in r.getMessage()]
    assert len(finished) == 1 and type(error).__name__ in finished[0].getMessage()
    if traceback_kept:  # a bug: Prefect's own line, with its traceback
        assert len(failed) == 1 and failed[0].exc_info is not None
    else:  # expected: said once, by the final state, without a traceback
        assert failed == [] and all(r.exc_info is None for r in task_records)


def test_an_asset_whose_retries_ran_out_logs_one_line(env, tmp_path, run_logs, monkeypatch):
    # A refused connection: transient, retried until the retries run out. The host counts as
    # down after three in a row; the asset waits a second for it (not the default 120 s).
    monkeypatch.setenv("REELFLOW_OUTAGE_MAX_WAIT", "1")
    monkeypatch.setenv("REELFLOW_OUTAGE_PROBE_SECONDS", "0.2")
    reset()
    path = _manifest(
        tmp_path, [{"number": 1, "thumbnail_url": "http://127.0.0.1:1/gone.jpg?sig=x"}]
    )
    result = CliRunner().invoke(app, ["import", path])
    assert result.exit_code == 1, result.output
    errors = [r for r in run_logs.records if r.levelno >= logging.ERROR]
    assert not [r for r in errors if r.exc_info], "no traceback"
    # One line in the asset's task run (its chunk), whatever the run's report says after.
    named = [
        r
        for r in errors
        if r.name == "prefect.task_runs" and "mv-expected/ep1/thumbnail" in r.getMessage()
    ]
    assert len(named) == 1, [r.getMessage() for r in errors]
    message = named[0].getMessage()
    assert "OriginUnreachable" in message and "Connection refused" in message
    assert "origin 127.0.0.1 has been unavailable" in message
    retries = [r for r in run_logs.records if "will start" in r.getMessage()]
    assert len(retries) == int(env["REELFLOW_RETRIES"]), "each retry is still announced"


def test_a_temporary_prefect_server_that_does_not_start_is_one_line(tmp_path):
    """Prefect's throwaway server given no time to start: an outage, not a traceback."""
    environ = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    environ |= {
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "0",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}",
    }
    subprocess.run(
        [sys.executable, "-m", "reelflow.cli.main", "db", "upgrade"], env=environ, check=True
    )
    result = subprocess.run(
        [sys.executable, "-m", "reelflow.cli.main", "cleanup", "purge"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS" in errors[0]


def _without_credentials(monkeypatch, tmp_path) -> None:
    """No S3 credentials anywhere botocore looks (variables, files, instance metadata)."""
    for name in (
        "S3_ACCESS_KEY_ID",
        "S3_SECRET_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    reset()


@pytest.mark.parametrize(
    "args",
    [
        ["urls", "mv-nocreds"],
        ["urls", "mv-nocreds", "--json"],
        ["warmup"],
        ["cleanup", "orphans"],
        ["cleanup", "orphans", "--execute"],
        ["cleanup", "purge"],
        ["delete-movie", "mv-nocreds", "--yes"],
    ],
    ids=" ".join,
)
def test_every_s3_command_without_credentials_names_the_variables(env, tmp_path, monkeypatch, args):
    from tests.support.cleanup import seed_movie

    seed_movie("mv-nocreds", 2)  # stored assets: s3:// URLs to sign, objects to list
    if args[:2] == ["cleanup", "purge"]:  # rows gone, keys owed in purge_queue
        from reelflow.adapters.db import purge_queue

        purge_queue.delete_movie_rows(resources.engine(), "mv-nocreds")
    _without_credentials(monkeypatch, tmp_path)
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, SystemExit | None), result.exception
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    assert "S3_ACCESS_KEY_ID" in errors[0] and "S3_SECRET_ACCESS_KEY" in errors[0]
    # delete-movie has deleted the rows and queued the keys when its purge fails: work failed
    assert result.exit_code == (1 if args[0] == "delete-movie" else 2), result.output


@pytest.mark.parametrize(
    "args",
    [
        ["db", "upgrade"],
        ["import", "MANIFEST"],
        ["urls", "mv"],
        ["warmup"],
        ["cleanup", "orphans"],
        ["cleanup", "purge"],
        ["backfill"],
        ["delete-movie", "mv", "--yes"],
    ],
    ids=" ".join,
)
def test_an_unreachable_database_is_one_line_in_every_command(tmp_path, monkeypatch, args):
    path = _manifest(tmp_path, [{"number": 1, "thumbnail_url": "https://cdn.example/1.jpg"}])
    args = [path if a == "MANIFEST" else a for a in args]
    url = f"postgresql+psycopg://nobody:pw-not-shown@127.0.0.1:{free_port()}/x"
    monkeypatch.setenv("DATABASE_URL", url)
    reset()
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: cannot use the database") and "Connection refused" in line
    assert "pw-not-shown" not in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["cleanup", "orphans"],
        ["cleanup", "orphans", "--execute"],
        ["cleanup", "purge"],
        ["delete-movie", "mv-s3down", "--yes"],
    ],
    ids=" ".join,
)
def test_an_unreachable_s3_is_one_line_in_every_command(env, monkeypatch, args):
    from tests.support.cleanup import seed_movie

    seed_movie("mv-s3down", 1)
    if args[:2] == ["cleanup", "purge"]:
        from reelflow.adapters.db import purge_queue

        purge_queue.delete_movie_rows(resources.engine(), "mv-s3down")
    monkeypatch.setenv("S3_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("REELFLOW_RETRIES", "0")
    reset()
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot reach S3" in errors[0], result.output

"""Helpers for the end-to-end tests: real processes (Prefect server, workers, the CLI)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ARTIFACTS = ROOT / "test-artifacts"

# Settings the e2e stack runs with: not the defaults, so the tests prove they are used.
S3_REQUEST_LIMIT = 40
ORIGIN_HOST_LIMIT = 5

# The movie the session's finished import brings in (see conftest.finished_import).
IMPORT_MOVIE = "e2e-ocean-tales"
IMPORT_EPISODES = 4

# How e2e movies are served (tests.support.movies.serve_movie(..., **E2E_MEDIA)): small media,
# and a token of their own in the thumbnail URLs.
E2E_MEDIA: dict[str, Any] = {"size": (320, 180), "preview_seconds": 0.2, "token": "e2e"}


class Proc:
    """A background process in its own session, logging to a file; stop() ends its group."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                cmd,
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def wait_until(what: str, check: Any, timeout: float, proc: Proc | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if proc is not None and not proc.alive():
            raise AssertionError(f"{proc.name} exited while waiting for {what}:\n{proc.tail()}")
        time.sleep(0.25)
    detail = f"\n{proc.name} log:\n{proc.tail()}" if proc is not None else ""
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2.0, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def reelflow(
    args: Iterable[str], env: dict[str, str], timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """Run the reelflow CLI as a separate process, the way an operator does."""
    return subprocess.run(
        [sys.executable, "-m", "reelflow.cli.main", *args],
        cwd=ROOT,
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def reelflow_json(args: Iterable[str], env: dict[str, str], timeout: float = 180) -> Any:
    result = reelflow(args, env, timeout)
    assert result.returncode == 0, (
        f"reelflow {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    )
    return json.loads(result.stdout)


def wait_final(run_ids: Iterable[Any], timeout: float = 180) -> dict[str, Any]:
    """Poll the Prefect API until every run is in a final state; return {id: FlowRun}."""
    from prefect.client.orchestration import get_client

    ids = [str(i) for i in run_ids]
    deadline = time.monotonic() + timeout
    runs: dict[str, Any] = {}
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs = {i: client.read_flow_run(i) for i in ids}
            if all(r.state is not None and r.state.is_final() for r in runs.values()):
                return runs
            time.sleep(0.5)
    states = {i: (r.state.name if r.state else None) for i, r in runs.items()}
    raise AssertionError(f"runs not final after {timeout:.0f}s: {states}")

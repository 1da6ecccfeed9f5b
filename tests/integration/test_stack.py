"""`reelflow up` / `make up` on a running stack never leaves a process on stale settings, a
second `up` with the same settings does nothing, and `make demo-stop` stops only the demo's
S3, never the stack's. A submitted import runs on the stack's worker, forked from the
warm-start server.

One real stack (moto, `prefect server start`, the sample origin, a worker) on free ports with
its state in a temporary directory, driven through the CLI as an operator would; what each
process really runs with is read from /proc/<pid>/environ."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from reelflow.devtools.demo import ensure_s3, stop_s3
from reelflow.devtools.s3server import free_port
from reelflow.devtools.sample_origin import sample_manifest

ROOT = Path(__file__).resolve().parents[2]


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def _gone(pid: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not _running(pid)


def test_up_keeps_what_is_unchanged_and_restarts_what_changed(tmp_path: Path, pg_url: str) -> None:
    home = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "S3_"))}
    env.update(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'stack.db'}",
            "REELFLOW_STACK_API_PORT": str(free_port()),
            "REELFLOW_STACK_ORIGIN_PORT": str(free_port()),
            "REELFLOW_API_PORT": str(free_port()),
            "COLUMNS": "200",
        }
    )

    def reelflow(*args: str, **extra: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "reelflow.cli.main", *args, "--state-dir", str(home)],
            cwd=ROOT,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Traceback" not in result.stdout + result.stderr
        return result.stdout

    def reelflow_plain(args: list[str], run_env: dict[str, str]) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "reelflow.cli.main", *args],
            cwd=ROOT,
            env={**env, **run_env},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def pids() -> dict[str, int]:
        state: dict[str, Any] = json.loads((home / "stack" / "state.json").read_text())
        return {name: int(entry["pid"]) for name, entry in state["processes"].items()}

    try:
        reelflow("up")
        first = pids()
        assert set(first) == {"s3", "server", "origin", "engine", "worker", "api"}
        assert _environ(first["worker"])["DATABASE_URL"] == env["DATABASE_URL"]

        # a submitted import is run by the worker, forked from the warm-start server
        stack_env = dict(
            line.split("=", 1)
            for line in (home / "stack" / "env").read_text().splitlines()
            if "=" in line and not line.startswith("#")
        )
        stack_env = {k: shlex.split(v)[0] if v else "" for k, v in stack_env.items()}
        manifest = sample_manifest(2, port=int(env["REELFLOW_STACK_ORIGIN_PORT"]))
        (tmp_path / "sample.json").write_text(json.dumps(manifest))
        submitted = json.loads(
            reelflow_plain(
                ["import", str(tmp_path / "sample.json"), "--submit", "--json"], stack_env
            )
        )
        run_id = submitted["flow_run_id"]
        api = stack_env["PREFECT_API_URL"]
        deadline = time.monotonic() + 300
        state: dict[str, Any] = {}
        while time.monotonic() < deadline:
            state = httpx.get(f"{api}/flow_runs/{run_id}", timeout=10).json()["state"] or {}
            if state.get("type") in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
                break
            time.sleep(1)
        assert state.get("type") == "COMPLETED", state
        engine_log = (home / "stack" / "logs" / "engine.log").read_text()
        assert f"flow run {run_id}: forked" in engine_log

        # the stack's HTTP API answers its own token (kept owner-only), and only it
        token_file = home / "stack" / "api-token"
        assert token_file.stat().st_mode & 0o777 == 0o600
        token = token_file.read_text().strip()
        http_api = f"http://127.0.0.1:{env['REELFLOW_API_PORT']}/api/v1"
        assert httpx.get(f"{http_api}/imports/{run_id}", timeout=10).status_code == 401
        seen = httpx.get(
            f"{http_api}/imports/{run_id}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert seen.status_code == 200, seen.text
        assert seen.json()["state_type"] == "COMPLETED"
        assert seen.json()["counts"].get("stored") == 4
        assert token not in (home / "stack" / "env").read_text()

        # the same settings again: nothing restarted, and it says so; the token is never shown
        again = reelflow("up")
        assert "nothing to do" in again
        assert token not in again and "api-token" in again
        assert pids() == first

        # a new database: the worker (and the warm-start server its runs fork from) are
        # restarted on it; the rest is kept
        reelflow("up", DATABASE_URL=pg_url)
        second = pids()
        for name in ("worker", "engine", "api"):
            assert second[name] != first[name] and _gone(first[name])
            assert _environ(second[name])["DATABASE_URL"] == pg_url
        assert {k: second[k] for k in ("s3", "server", "origin")} == {
            k: first[k] for k in ("s3", "server", "origin")
        }

        # S3 died: `up` starts it again on the endpoint the worker already uses
        worker_s3 = _environ(second["worker"])["S3_ENDPOINT"]
        os.kill(second["s3"], signal.SIGKILL)
        assert _gone(second["s3"])
        reelflow("up", DATABASE_URL=pg_url)
        third = pids()
        assert third["s3"] != second["s3"]
        assert (third["worker"], third["engine"], third["api"]) == (
            second["worker"],
            second["engine"],
            second["api"],
        )
        assert f"S3_ENDPOINT={worker_s3}" in (home / "stack" / "env").read_text()
        port = worker_s3.rsplit(":", 1)[1]
        assert port in " ".join(Path(f"/proc/{third['s3']}/cmdline").read_text().split("\0"))

        # `make demo-stop` stops the demo's S3, and only it
        ensure_s3(home)
        demo_pid = json.loads((home / "s3.json").read_text())["pid"]
        assert stop_s3(home)
        assert _gone(demo_pid)
        assert all(_running(pid) for pid in third.values())
    finally:
        final = pids() if (home / "stack" / "state.json").exists() else {}
        reelflow("down")
    assert all(_gone(pid) for pid in final.values())

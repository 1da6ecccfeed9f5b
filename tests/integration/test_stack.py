"""`reelflow up` / `make up` on a running stack never leaves a process on stale settings, a
second `up` with the same settings does nothing, and `make demo-stop` stops only the demo's
S3, never the stack's.

One real stack (moto, `prefect server start`, the sample origin, a worker) on free ports with
its state in a temporary directory, driven through the CLI as an operator would; what each
process really runs with is read from /proc/<pid>/environ."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from reelflow.devtools.demo import ensure_s3, stop_s3
from reelflow.devtools.s3server import free_port

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

    def pids() -> dict[str, int]:
        state: dict[str, Any] = json.loads((home / "stack" / "state.json").read_text())
        return {name: int(entry["pid"]) for name, entry in state["processes"].items()}

    try:
        reelflow("up")
        first = pids()
        assert set(first) == {"s3", "server", "origin", "worker"}
        assert _environ(first["worker"])["DATABASE_URL"] == env["DATABASE_URL"]

        # the same settings again: nothing restarted, and it says so
        again = reelflow("up")
        assert "nothing to do" in again
        assert pids() == first

        # a new database: the worker is restarted on it; the rest is kept
        reelflow("up", DATABASE_URL=pg_url)
        second = pids()
        assert second["worker"] != first["worker"] and _gone(first["worker"])
        assert _environ(second["worker"])["DATABASE_URL"] == pg_url
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
        assert third["worker"] == second["worker"]
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

"""A killed CLI leaves nothing running: Prefect's temporary API server, moto and the
benchmark's origin process die with the command, whether it gets SIGKILL or SIGTERM.

Each test starts the real CLI as a separate process, waits until its helpers are up (found
by walking /proc from the CLI's pid), kills the CLI mid-run and then checks, pid by pid,
that every process it had started is gone."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reelflow.devtools.origin import Origin
from tests.support.movies import serve_movie

ROOT = Path(__file__).resolve().parents[2]


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def descendants(pid: int) -> dict[int, str]:
    """{pid: command line} of every live descendant of `pid`."""
    tree, found, todo = _children(), {}, [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            with contextlib.suppress(OSError):
                cmd = (Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")).decode()
                found[child] = cmd
            todo.append(child)
    return found


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for(what: str, check, proc: subprocess.Popen[bytes], timeout: float = 180):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise AssertionError(f"the CLI exited ({proc.returncode}) before {what}:\n{out}")
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def survivors(pids: dict[int, str], grace: float = 30.0) -> dict[int, str]:
    """The processes among `pids` still running once `grace` seconds have passed."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(running(p) for p in pids):
        time.sleep(0.2)
    return {pid: cmd for pid, cmd in pids.items() if running(pid)}


@contextlib.contextmanager
def cli(args: list[str], cwd: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "reelflow.cli.main", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    seen: dict[int, str] = {}
    try:
        yield proc
    finally:
        # whatever the test asserted, nothing it started outlives it
        seen = descendants(proc.pid) if proc.poll() is None else {}
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        for pid in seen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def zero_config_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "S3_"))}
    env.pop("DATABASE_URL", None)
    env.update(
        {
            "PREFECT_HOME": str(tmp_path / "prefect-home"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "REELFLOW_FETCH_ALLOW": "127.0.0.1",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'reelflow.db'}",
            "S3_ENDPOINT": "http://127.0.0.1:9",  # never reached: the downloads stall first
            "S3_ACCESS_KEY_ID": "x",
            "S3_SECRET_ACCESS_KEY": "y",
        }
    )
    return env


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_killed_zero_config_import_leaves_no_temporary_server(
    tmp_path: Path, sig: signal.Signals
) -> None:
    env = zero_config_env(tmp_path)
    upgrade = subprocess.run(
        [sys.executable, "-m", "reelflow.cli.main", "db", "upgrade"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
    # Every download stalls, so the run is busy when the signal comes. SIGTERM lets Prefect
    # mark the run Crashed and unwind, which waits for the downloads in flight: shorter stalls.
    stall_ms = 120_000 if sig == signal.SIGKILL else 5_000
    with Origin(latency_ms=stall_ms) as origin:
        manifest = serve_movie(origin, "killed-import", 2, size=(64, 36), preview_seconds=0.2)
        path = tmp_path / "movie.json"
        path.write_text(json.dumps(manifest))
        with cli(["import", str(path)], tmp_path, env) as proc:
            server = wait_for(
                "Prefect's temporary server",
                lambda: {p: c for p, c in descendants(proc.pid).items() if "uvicorn" in c},
                proc,
            )
            wait_for("a download in flight", lambda: origin.requests() > 0, proc)
            started = descendants(proc.pid)
            assert set(server) <= set(started)
            os.kill(proc.pid, sig)
            proc.wait(180)
            assert survivors(started) == {}


def test_a_terminated_import_benchmark_leaves_no_helper(tmp_path: Path) -> None:
    env = zero_config_env(tmp_path)
    for key in ("DATABASE_URL", "S3_ENDPOINT", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"):
        env.pop(key)
    args = ["bench", "import", "--episodes", "400", "--baseline-episodes", "400"]
    with cli(args, ROOT, env) as proc:

        def helpers() -> dict[int, str]:
            found = descendants(proc.pid)
            kinds = {
                "moto": any("moto.server" in c for c in found.values()),
                "prefect": any("uvicorn" in c for c in found.values()),
                "origin": any("multiprocessing" in c for c in found.values()),
            }
            return found if all(kinds.values()) else {}

        started = wait_for("moto, Prefect's server and the origin process", helpers, proc)
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(30)
        assert survivors(started) == {}

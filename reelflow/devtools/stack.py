"""`reelflow up` / `reelflow down`: a local Prefect stack in the background.

`up` starts (or reuses) four background processes, each in its own session, logs and state
under .reelflow/stack/:

    server   `prefect server start --host 127.0.0.1 --port 4200` (API + UI, SQLite in
             .reelflow/stack/prefect/, PREFECT_HOME there too)
    s3       the demo's local S3 endpoint (moto; reelflow.devtools.demo.ensure_s3,
             .reelflow/s3.json)
    origin   `python -m reelflow.devtools.sample_origin` serving the sample media on
             127.0.0.1:8787, so sample.json's URLs are fetchable
    worker   `prefect worker start --pool reelflow`, started with the env in
             .reelflow/stack/env (S3, database, REELFLOW_FETCH_ALLOW=127.0.0.1, ...)

then migrates the database, creates the bucket and runs `reelflow deploy` against the server.
`down` stops what `up` recorded (each process group and its descendants: the worker's flow
runs too), checking each pid still belongs to the process that was started.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from deployments.local_stack import (
    Paths,
    alive,
    load_state,
    running_api_url,
    save_state,
    start_ticks,
)
from reelflow.adapters import s3
from reelflow.adapters.db import migrate
from reelflow.core.errors import StackError
from reelflow.devtools.demo import ensure_s3, stop_s3
from reelflow.devtools.sample_origin import DEFAULT_PORT as ORIGIN_PORT
from reelflow.services import resources
from reelflow.settings import get_settings, reset_settings

__all__ = ["API_PORT", "ORIGIN_PORT", "StackError", "down", "running_api_url", "up"]

API_PORT = 4200
HOST = "127.0.0.1"
ORIGIN_EPISODES = 12
_ORDER = ("worker", "origin", "server")  # stop order; start order is the reverse


# --- processes ---------------------------------------------------------------------------


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _pid_gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


def _stop(entry: dict[str, Any], timeout: float = 20.0) -> bool:
    """SIGTERM the process group and every descendant; SIGKILL what is left after `timeout`."""
    if not alive(entry):
        return False
    pid = int(entry["pid"])
    targets = [pid, *_descendants(pid)]
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    for target in targets:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(target, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(_pid_gone(t) for t in targets):
            return True
        time.sleep(0.2)
    for target in targets:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(target, signal.SIGKILL)
    return True


def _spawn(name: str, cmd: list[str], env: dict[str, str], paths: Paths) -> dict[str, Any]:
    paths.logs.mkdir(parents=True, exist_ok=True)
    log = open(paths.logs / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
    try:
        proc = subprocess.Popen(
            cmd,
            cwd=paths.root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    finally:
        log.close()
    return {"pid": proc.pid, "start": start_ticks(proc.pid), "cmd": cmd}


def _port_busy(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def _wait(what: str, check: Any, entry: dict[str, Any], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if not alive(entry):
            raise StackError(f"{what} exited during start-up; see {log}")
        time.sleep(0.3)
    raise StackError(f"{what} did not become ready within {timeout:.0f}s; see {log}")


def _http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2.0, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def _worker_online(api_url: str, pool: str) -> bool:
    try:
        response = httpx.post(
            f"{api_url}/work_pools/{pool}/workers/filter", json={}, timeout=2.0, trust_env=False
        )
        return response.status_code == 200 and any(
            w.get("status") == "ONLINE" for w in response.json()
        )
    except (httpx.HTTPError, ValueError):
        return False


# --- state -------------------------------------------------------------------------------


def _write_env(paths: Paths, env: dict[str, str]) -> None:
    paths.stack.mkdir(parents=True, exist_ok=True)
    lines = ["# Written by `reelflow up`: the environment of the local stack's worker."]
    lines += [f"{key}={shlex.quote(value)}" for key, value in env.items()]
    fd = os.open(paths.env, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")


# --- up / down ---------------------------------------------------------------------------


def _stack_env(paths: Paths, s3_endpoint: str, database_url: str, pool: str) -> dict[str, str]:
    return {
        "PREFECT_API_URL": f"http://{HOST}:{API_PORT}/api",
        "PREFECT_HOME": str(paths.prefect_home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "3",
        "REELFLOW_HOME": str(paths.root),
        "REELFLOW_WORK_POOL": pool,
        "S3_ENDPOINT": s3_endpoint,
        "S3_ACCESS_KEY_ID": "demo",
        "S3_SECRET_ACCESS_KEY": "demo-secret",
        "DATABASE_URL": database_url,
        "REELFLOW_FETCH_ALLOW": HOST,
    }


def up(root: Path, console: Console) -> dict[str, str]:
    """Start (or reuse) the local stack; return the env a shell should export."""
    paths = Paths(root.resolve())
    paths.stack.mkdir(parents=True, exist_ok=True)
    paths.prefect_home.mkdir(parents=True, exist_ok=True)
    state = load_state(paths)
    procs: dict[str, Any] = state.get("processes", {})
    bin_dir = Path(sys.executable).parent

    endpoint = ensure_s3(paths.state_dir)
    settings = get_settings()
    stack_env = _stack_env(
        paths, endpoint, settings.database_url.get_secret_value(), settings.work_pool
    )
    _write_env(paths, stack_env)
    env = {**os.environ, **stack_env}
    api_url = stack_env["PREFECT_API_URL"]

    # 1. Prefect server (API + UI)
    if not alive(procs.get("server")):
        if _port_busy(API_PORT):
            raise StackError(
                f"port {API_PORT} is in use by a process `reelflow up` did not start; stop it "
                "(or point PREFECT_API_URL at it and use `reelflow deploy` instead)"
            )
        cmd = [str(bin_dir / "prefect"), "server", "start", "--host", HOST, "--port", str(API_PORT)]
        procs["server"] = _spawn("server", cmd, env, paths)
        save_state(paths, {"api_url": api_url, "processes": procs})
        console.print(f"starting the Prefect server on {HOST}:{API_PORT} ...")
        _wait(
            "the Prefect server",
            lambda: _http_ok(f"{api_url}/health"),
            procs["server"],
            paths.logs / "server.log",
            timeout=120,
        )

    # 2. our database and bucket, in this process with the stack's settings
    os.environ.update({k: v for k, v in stack_env.items() if not k.startswith("PREFECT_")})
    reset_settings()
    resources.dispose()
    migrate.upgrade(resources.engine())
    s3.ensure_bucket(resources.s3_client(), get_settings().s3_bucket_name)

    # 3. the origin serving sample.json's media
    if not alive(procs.get("origin")):
        if _port_busy(ORIGIN_PORT):
            raise StackError(f"port {ORIGIN_PORT} (the sample origin) is in use")
        cmd = [
            sys.executable,
            "-m",
            "reelflow.devtools.sample_origin",
            "--port",
            str(ORIGIN_PORT),
            "--episodes",
            str(ORIGIN_EPISODES),
            "--media-dir",
            str(paths.state_dir / "media"),
        ]
        procs["origin"] = _spawn("origin", cmd, env, paths)
        save_state(paths, {"api_url": api_url, "processes": procs})
        console.print(
            f"starting the sample origin on {HOST}:{ORIGIN_PORT} (media generated once) ..."
        )
        _wait(
            "the sample origin",
            lambda: _http_ok(f"http://{HOST}:{ORIGIN_PORT}/cdn/{ORIGIN_EPISODES}/preview.webm"),
            procs["origin"],
            paths.logs / "origin.log",
            timeout=300,
        )

    # 4. reelflow deploy (idempotent), against the stack's server
    console.print("reelflow deploy ...")
    deploy = subprocess.run(
        [sys.executable, "-m", "reelflow.cli.main", "deploy", "--origin-host", HOST],
        cwd=paths.root,
        env={**env, "COLUMNS": "120"},
        capture_output=True,
        text=True,
        check=False,
    )
    console.print(deploy.stdout.rstrip(), highlight=False, markup=False)
    if deploy.returncode != 0:
        console.print(deploy.stderr.rstrip(), highlight=False, markup=False)
        console.print(
            "[yellow]reelflow deploy reported errors[/]: deployments whose flow files are "
            "missing were not created; the rest of the stack is up."
        )

    # 5. the worker
    if not alive(procs.get("worker")):
        cmd = [
            str(bin_dir / "prefect"),
            "worker",
            "start",
            "--pool",
            settings.work_pool,
            "--type",
            "process",
            "--name",
            "reelflow-local",
            "--install-policy",
            "never",
        ]
        procs["worker"] = _spawn("worker", cmd, env, paths)
        save_state(paths, {"api_url": api_url, "processes": procs})
        console.print(f"starting a worker on pool {settings.work_pool!r} ...")
        _wait(
            "the worker",
            lambda: _worker_online(api_url, settings.work_pool),
            procs["worker"],
            paths.logs / "worker.log",
            timeout=90,
        )
    save_state(paths, {"api_url": api_url, "processes": procs})

    ui = api_url.removesuffix("/api")
    console.print(f"\n[bold]Prefect UI:[/] {ui}")
    console.print(f"logs: {paths.logs}/  worker env: {paths.env}")
    console.print("\nexport these to use the stack from your shell:")
    for key in (
        "PREFECT_API_URL",
        "S3_ENDPOINT",
        "S3_ACCESS_KEY_ID",
        "S3_SECRET_ACCESS_KEY",
        "DATABASE_URL",
        "REELFLOW_FETCH_ALLOW",
    ):
        console.print(
            f"  export {key}={shlex.quote(stack_env[key])}", highlight=False, markup=False
        )
    console.print("\nthen: reelflow import sample.json --submit   (and watch it in the UI)")
    return stack_env


def down(root: Path, console: Console) -> bool:
    """Stop everything `up` started; True if something was running."""
    paths = Paths(root.resolve())
    state = load_state(paths)
    procs: dict[str, Any] = state.get("processes", {})
    stopped = False
    for name in _ORDER:
        entry = procs.get(name)
        if entry and _stop(entry):
            console.print(f"stopped {name} (pid {entry['pid']})")
            stopped = True
    if stop_s3(paths.state_dir):
        console.print("stopped the local S3 endpoint")
        stopped = True
    paths.state.unlink(missing_ok=True)
    if not stopped:
        console.print("nothing was running")
    return stopped

"""`reelflow up` / `reelflow down`: a local Prefect stack in the background.

`up` starts (or keeps) six background processes, each in its own session, logs and state
under .reelflow/stack/ (the stack's alone: `make demo` and `make demo-stop` keep theirs in
.reelflow/s3.json and never touch these):

    s3       a local S3 endpoint (moto) on a port chosen once and kept across restarts
    server   `prefect server start --host 127.0.0.1 --port 4200` (API + UI, SQLite in
             .reelflow/stack/prefect/, PREFECT_HOME there too)
    origin   `python -m reelflow.devtools.sample_origin` serving the sample media on
             127.0.0.1:8787, so sample.json's URLs are fetchable
    engine   `python -m deployments.warm_start serve`: Prefect and the flows imported once;
             the worker's runs are forked from it, Running within about a second
    worker   `prefect worker start --pool reelflow`, started with the env in
             .reelflow/stack/env (S3, database, REELFLOW_FETCH_ALLOW=127.0.0.1, ...)
    api      `reelflow serve` (the HTTP API) on 127.0.0.1:REELFLOW_API_PORT (8700), with the
             stack's env and a read+write token generated once into .reelflow/stack/api-token
             (mode 0600; never printed)

then migrates the database, creates the bucket and runs `reelflow deploy` against the server,
and last runs the start-up steps (`_once_healthy`).

Each process is recorded with the command and environment it was started with. `up` on a
running stack compares them with what it would start now: a process whose settings are
unchanged is kept, one whose settings changed (DATABASE_URL, the S3 endpoint, ...) is
stopped and started again, so no process is ever left running on stale settings; when
nothing changed, `up` says so and does nothing. One `up` or `down` at a time (a lock file).
`down` stops what `up` recorded (each process group and its descendants: the worker's flow
runs too), checking each pid still belongs to the process that was started.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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
from deployments.warm_start import SOCKET_ENV
from reelflow.adapters.db import migrate
from reelflow.core.errors import StackError
from reelflow.devtools.s3server import SPILL_BYTES, free_port
from reelflow.services import resources
from reelflow.settings import HEARTBEAT_ENV, Settings, get_settings, reset_settings

__all__ = ["StackError", "down", "running_api_url", "up"]

HOST = "127.0.0.1"
ORIGIN_EPISODES = 12
_ORDER = (
    "api",
    "worker",
    "engine",
    "origin",
    "server",
    "s3",
)  # stop order; start order is the reverse
# How the stack's worker polls: a submitted run starts within about a second (Prefect's
# defaults, 10 s polls, made a run wait up to 10 s before its process even started).
WORKER_QUERY_SECONDS = "1"
WORKER_PREFETCH_SECONDS = "10"


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


def _spawn(
    name: str, cmd: list[str], env: dict[str, str], paths: Paths, config: dict[str, Any]
) -> dict[str, Any]:
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
    return {"pid": proc.pid, "start": start_ticks(proc.pid), "cmd": cmd, "config": config}


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


def _socket_ready(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(str(path)) == 0


def _http_ok(url: str, token: str | None = None) -> bool:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        return httpx.get(url, headers=headers, timeout=2.0, trust_env=False).status_code == 200
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


def _api_token(paths: Paths) -> str:
    """The stack API's read+write token: made once (32 random URL-safe characters) into a file
    only its owner can read, and kept, so clients keep working across `up`s."""
    import secrets

    path = paths.stack / "api-token"
    with contextlib.suppress(FileNotFoundError):
        token = path.read_text().strip()
        if len(token) >= 32:
            return token
    token = secrets.token_urlsafe(24)
    paths.stack.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token


@contextlib.contextmanager
def _locked(paths: Paths) -> Iterator[None]:
    """One `up` or `down` at a time: two at once would each start a worker."""
    paths.stack.mkdir(parents=True, exist_ok=True)
    with open(paths.lock, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StackError(
                f"another `reelflow up` or `reelflow down` is running ({paths.lock})"
            ) from None
        yield


# --- up / down ---------------------------------------------------------------------------


@dataclass
class _Run:
    """One `up`: the recorded processes and what this run did to them."""

    paths: Paths
    console: Console
    procs: dict[str, Any]
    api_url: str
    started: list[str] = field(default_factory=list)

    def save(self) -> None:
        save_state(self.paths, {"api_url": self.api_url, "processes": self.procs})

    def ensure(
        self,
        name: str,
        cmd: list[str],
        env: dict[str, str],
        config: dict[str, Any],
        what: str,
        ready: Callable[[], bool],
        timeout: float,
        port: int | None = None,
    ) -> None:
        """Keep `name` if it runs with `config`; else (re)start it and wait until ready."""
        config = {"cmd": cmd, **config}
        entry = self.procs.get(name)
        if alive(entry):
            assert entry is not None
            if entry.get("config") == config:
                return
            changed = _changed_keys(entry.get("config") or {}, config)
            self.console.print(f"restarting {name}: its settings changed ({changed})")
            _stop(entry)
        if port is not None and _port_busy(port):
            raise StackError(
                f"port {port} ({what}) is in use by a process `reelflow up` did not start; "
                "stop it (or choose another port in the REELFLOW_STACK_* settings)"
            )
        self.procs[name] = _spawn(name, cmd, env, self.paths, config)
        self.save()
        self.started.append(name)
        self.console.print(f"starting {what} ...")
        _wait(what, ready, self.procs[name], self.paths.logs / f"{name}.log", timeout)


def _changed_keys(old: dict[str, Any], new: dict[str, Any]) -> str:
    """The names (never the values: DATABASE_URL holds a password) of what differs."""
    names = []
    for key in sorted(set(old) | set(new)):
        if key == "env":
            envs = old.get("env") or {}, new.get("env") or {}
            names += [
                k for k in sorted(set(envs[0]) | set(envs[1])) if envs[0].get(k) != envs[1].get(k)
            ]
        elif old.get(key) != new.get(key):
            names.append(key)
    return ", ".join(names) or "its command"


def _worker_env(env: dict[str, str]) -> dict[str, str]:
    """What in the worker's environment reaches reelflow's or Prefect's settings."""
    return {
        k: v
        for k, v in env.items()
        if k.startswith(("PREFECT_", "REELFLOW_", "S3_", "REDIS_"))
        or k in ("DATABASE_URL", "USE_REDIS", "CDN_URL")
    }


def _fingerprint(env: dict[str, str]) -> dict[str, str]:
    """Per variable, a digest of its value: enough to see what changed, and the state file
    holds no password."""
    return {k: hashlib.sha256(v.encode()).hexdigest()[:16] for k, v in sorted(env.items())}


def _s3_port(procs: dict[str, Any]) -> int:
    """The port the stack's S3 had, so a restarted S3 keeps its endpoint (and the worker its
    settings); a new one only when that port has been taken by something else."""
    recorded = (procs.get("s3") or {}).get("config", {}).get("port")
    if alive(procs.get("s3")) or (recorded and not _port_busy(int(recorded))):
        return int(recorded)
    return free_port()


def _stack_env(
    paths: Paths, settings: Settings, s3_endpoint: str, database_url: str
) -> dict[str, str]:
    return {
        "PREFECT_API_URL": f"http://{HOST}:{settings.stack_api_port}/api",
        "PREFECT_HOME": str(paths.prefect_home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": os.environ.get(
            "PREFECT_WORKER_QUERY_SECONDS", WORKER_QUERY_SECONDS
        ),
        "PREFECT_WORKER_PREFETCH_SECONDS": os.environ.get(
            "PREFECT_WORKER_PREFETCH_SECONDS", WORKER_PREFETCH_SECONDS
        ),
        HEARTBEAT_ENV: str(settings.flow_heartbeat_seconds),
        "REELFLOW_HOME": str(paths.root),
        # runs start as one process with this Python (deployments.apply: `command`)
        "REELFLOW_WORKER_PYTHON": os.environ.get("REELFLOW_WORKER_PYTHON", sys.executable),
        SOCKET_ENV: str(paths.stack / "warm-start.sock"),
        "REELFLOW_WORK_POOL": settings.work_pool,
        "S3_ENDPOINT": s3_endpoint,
        "S3_ACCESS_KEY_ID": "demo",
        "S3_SECRET_ACCESS_KEY": "demo-secret",
        "DATABASE_URL": database_url,
        "REELFLOW_FETCH_ALLOW": HOST,
    }


def up(root: Path, console: Console, *, home: Path | None = None) -> dict[str, str]:
    """Start the local stack, or bring a running one in line with the current settings;
    return the env a shell should export. `home`: where the state lives (root/.reelflow)."""
    paths = Paths(root.resolve(), home.resolve() if home else None)
    with _locked(paths):
        return _up(paths, console)


def _up(paths: Paths, console: Console) -> dict[str, str]:
    paths.prefect_home.mkdir(parents=True, exist_ok=True)
    settings = get_settings()
    bin_dir = Path(sys.executable).parent
    procs: dict[str, Any] = load_state(paths).get("processes", {})
    api_port = settings.stack_api_port
    run = _Run(paths, console, procs, f"http://{HOST}:{api_port}/api")

    # 1. local S3 (moto), the stack's own
    s3_port = _s3_port(procs)
    endpoint = f"http://{HOST}:{s3_port}"
    run.ensure(
        "s3",
        [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(s3_port)],
        {**os.environ, "MOTO_S3_DEFAULT_KEY_BUFFER_SIZE": str(SPILL_BYTES)},
        {"port": s3_port},
        f"the local S3 endpoint on {HOST}:{s3_port}",
        lambda: _http_ok(f"{endpoint}/moto-api/"),
        timeout=60,
        port=s3_port,
    )

    stack_env = _stack_env(paths, settings, endpoint, settings.database_url.get_secret_value())
    _write_env(paths, stack_env)
    env = {**os.environ, **stack_env}
    prefect_env = {k: v for k, v in stack_env.items() if k.startswith("PREFECT_")}

    # 2. Prefect server (API + UI)
    run.ensure(
        "server",
        [str(bin_dir / "prefect"), "server", "start", "--host", HOST, "--port", str(api_port)],
        env,
        {"env": _fingerprint({k: v for k, v in prefect_env.items() if "_WORKER_" not in k})},
        f"the Prefect server on {HOST}:{api_port}",
        lambda: _http_ok(f"{run.api_url}/health"),
        timeout=180,
        port=api_port,
    )

    # 3. our database and bucket, in this process with the stack's settings (idempotent)
    os.environ.update({k: v for k, v in stack_env.items() if not k.startswith("PREFECT_")})
    reset_settings()
    resources.dispose()
    migrate.upgrade(resources.engine())
    resources.store().ensure_bucket(get_settings().s3_bucket_name)

    # 4. the origin serving sample.json's media
    origin_port = settings.stack_origin_port
    run.ensure(
        "origin",
        [
            sys.executable,
            "-m",
            "reelflow.devtools.sample_origin",
            "--port",
            str(origin_port),
            "--episodes",
            str(ORIGIN_EPISODES),
            "--media-dir",
            str(paths.state_dir / "media"),
        ],
        env,
        {},
        f"the sample origin on {HOST}:{origin_port} (media generated once)",
        lambda: _http_ok(f"http://{HOST}:{origin_port}/cdn/{ORIGIN_EPISODES}/preview.webm"),
        timeout=300,
        port=origin_port,
    )

    # 5. reelflow deploy (idempotent), when something was (re)started
    if run.started:
        _deploy(paths, env, console)

    # 6. the warm-start server the worker's runs fork from (deployments.warm_start), with the
    #    worker's environment; then the worker, each restarted whenever that would differ
    worker_config = {"env": _fingerprint(_worker_env(env))}
    sock = Path(stack_env[SOCKET_ENV])
    run.ensure(
        "engine",
        [sys.executable, "-m", "deployments.warm_start", "serve", "--socket", str(sock)],
        env,
        worker_config,
        "the warm-start server (Prefect and the flows imported once)",
        lambda: _socket_ready(sock),
        timeout=300,
    )
    pool = settings.work_pool
    run.ensure(
        "worker",
        [
            str(bin_dir / "prefect"),
            "worker",
            "start",
            "--pool",
            pool,
            "--type",
            "process",
            "--name",
            "reelflow-local",
            "--install-policy",
            "never",
        ],
        env,
        worker_config,
        f"a worker on pool {pool!r}",
        lambda: _worker_online(run.api_url, pool),
        timeout=120,
    )

    # 7. the HTTP API, with the stack's env and its own token
    token = _api_token(paths)
    api_env = {**env, "REELFLOW_API_TOKENS": f"read+write:{token}"}
    api_base = f"http://{HOST}:{settings.api_port}"
    run.ensure(
        "api",
        [sys.executable, "-m", "reelflow.cli.main", "serve", "--host", HOST]
        + ["--port", str(settings.api_port)],
        api_env,
        {"env": _fingerprint(_worker_env(api_env))},
        f"the HTTP API on {HOST}:{settings.api_port}",
        lambda: _http_ok(f"{api_base}/healthz", token),
        timeout=120,
        port=settings.api_port,
    )
    run.save()

    if run.started:
        _once_healthy(paths, stack_env, console)
    else:
        console.print(
            "the local stack is already running with these settings: nothing to do "
            "(`reelflow deploy` applies prefect.yaml changes)"
        )
    _print_usage(paths, stack_env, console)
    return stack_env


def _deploy(paths: Paths, env: dict[str, str], console: Console) -> None:
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


def _once_healthy(paths: Paths, stack_env: dict[str, str], console: Console) -> None:
    """Start-up steps that need the whole stack up and healthy (server, S3, origin, a worker
    online, deployments applied). The one place to add such a step: it runs after every
    `up` that started or restarted something, never on a no-op `up`.

    verify: the local S3 may have lost objects the database records as stored (moto keeps
    nothing across a restart); they are marked so that backfill imports them again."""
    from reelflow.devtools.reconcile import verify_after_start

    verify_after_start(console, {**os.environ, **stack_env}, cwd=paths.root)


def _print_usage(paths: Paths, stack_env: dict[str, str], console: Console) -> None:
    ui = stack_env["PREFECT_API_URL"].removesuffix("/api")
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
    api = f"http://{HOST}:{get_settings().api_port}"
    console.print(
        f"\n[bold]HTTP API:[/] {api}  (OpenAPI at {api}/docs; progress page at {api}/?run=<id>)",
        highlight=False,
    )
    console.print(
        f"  its read+write token: TOKEN=$(cat {shlex.quote(str(paths.stack / 'api-token'))})",
        highlight=False,
        markup=False,
    )


def down(root: Path, console: Console, *, home: Path | None = None) -> bool:
    """Stop everything `up` started; True if something was running. The demo's S3
    (`make demo`) is not the stack's and is left alone."""
    paths = Paths(root.resolve(), home.resolve() if home else None)
    with _locked(paths):
        procs: dict[str, Any] = load_state(paths).get("processes", {})
        stopped = False
        for name in _ORDER:
            entry = procs.get(name)
            if entry and _stop(entry):
                console.print(f"stopped {name} (pid {entry['pid']})")
                stopped = True
        paths.state.unlink(missing_ok=True)
    if not stopped:
        console.print("nothing was running")
    return stopped

"""Warm starts: flow runs forked from a process that has Prefect and the flows imported.

A process worker starts each flow run as a new Python process, which spends seconds importing
Prefect and the flow's modules before the run is Running (measured by `reelflow bench submit`).
This module removes that wait on a machine that runs a warm-start server beside its worker:

    server   `python -m deployments.warm_start serve --socket PATH` imports Prefect's engine
             and every flow in prefect.yaml once, then waits on a Unix socket;
    client   `python -m deployments.warm_start` is the deployments' run command (set by
             `reelflow deploy` when REELFLOW_WORKER_PYTHON is set). It imports nothing but the
             standard library, sends its environment, working directory and stdio to the
             server (socket REELFLOW_WARM_START_SOCKET), which forks a child that runs
             `prefect.engine` exactly as `python -m prefect.engine` would. The client relays
             signals to that child (a cancellation's SIGTERM) and exits with its exit code.

With no server (the variable unset, the socket absent, or the server's code older than the
files on disk, which makes the server restart itself) the client execs `python -m
prefect.engine` instead: the same run, started cold. `reelflow up` runs a server for its worker.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import sys
from pathlib import Path
from typing import Any, NoReturn

__all__ = ["SOCKET_ENV", "main"]

SOCKET_ENV = "REELFLOW_WARM_START_SOCKET"
_ROOT = Path(__file__).resolve().parents[1]


# --- client (the run command; standard library only) ---------------------------------------


def _cold_start() -> NoReturn:
    os.execv(sys.executable, [sys.executable, "-m", "prefect.engine", *sys.argv[1:]])  # noqa: S606


def run_client() -> None:
    path = os.environ.get(SOCKET_ENV)
    if not path:
        _cold_start()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
        request = {"env": dict(os.environ), "cwd": os.getcwd(), "argv": sys.argv[1:]}
        socket.send_fds(sock, [json.dumps(request).encode() + b"\n"], [0, 1, 2])
        reader = sock.makefile("r")
        reply = json.loads(reader.readline() or "{}")
    except (OSError, ValueError):
        reply = {}
    if "pid" not in reply:  # no server, or a stale one: start the run cold
        sock.close()
        _cold_start()
    child = int(reply["pid"])

    def relay(signum: int, _frame: Any) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, relay)
    try:
        done = json.loads(reader.readline() or "{}")
    except (OSError, ValueError):
        done = {}
    if "exit" not in done:  # the server went away: wait for the run's process itself
        while _alive(child):
            select.select([], [], [], 0.5)
        sys.exit(1)
    code = int(done["exit"])
    if code < 0:  # killed by a signal: end the same way, so the worker sees the same
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    sys.exit(code)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- server ---------------------------------------------------------------------------------


def _source_stamp() -> float:
    """The newest modification time among the project's loaded modules."""
    newest = 0.0
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if file and file.startswith(str(_ROOT)) and "/.venv/" not in file:
            with contextlib.suppress(OSError):
                newest = max(newest, os.stat(file).st_mtime)
    return newest


def _preload() -> None:
    import importlib

    import prefect.deployments.steps  # noqa: F401 - the pull steps
    import prefect.engine  # noqa: F401
    import prefect.flow_engine  # noqa: F401

    from deployments.spec import load_project

    for spec in load_project(_ROOT / "prefect.yaml").deployments:
        importlib.import_module(spec.module)


def _child(request: dict[str, Any], fds: list[int], inherited: list[socket.socket]) -> None:
    """In the forked child: become `python -m prefect.engine` for the client's run."""
    import runpy
    import traceback

    code = 1
    try:
        for sock in inherited:  # the listener and other runs' connections are not ours
            sock.close()
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        for fd in fds:
            os.close(fd)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        from prefect.context import refresh_global_settings_context

        from reelflow.services import reset

        refresh_global_settings_context()  # Prefect's settings from the run's environment
        reset()  # and reelflow's
        sys.argv = ["prefect.engine", *request["argv"]]
        try:
            runpy.run_module("prefect.engine", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def serve(path: Path) -> None:
    _preload()
    stamp = _source_stamp()
    path.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # Whoever can connect chooses a run's environment: the socket is created owner-only
    # (umask at bind, not a chmod after it, which would leave a window open).
    mask = os.umask(0o177)
    try:
        listener.bind(str(path))
    finally:
        os.umask(mask)
    listener.listen(16)
    running: dict[int, socket.socket] = {}  # child pid -> its client's connection
    stale = False
    print(f"warm-start server ready on {path}", flush=True)
    while True:
        readable, _, _ = select.select([listener], [], [], 0.2)
        if readable:
            conn, _ = listener.accept()
            fds: list[int] = []
            try:
                message, fds, _flags, _addr = socket.recv_fds(conn, 1 << 20, 3)
                request = json.loads(message.decode())
            except (OSError, ValueError):
                conn.close()
                for fd in fds:
                    os.close(fd)
                continue
            # Code changed on disk: this run starts cold, and the server reloads as soon
            # as the runs it forked have ended (their clients wait on its connections).
            stale = stale or _source_stamp() != stamp
            if stale:
                conn.sendall(b'{"stale": true}\n')
                conn.close()
                for fd in fds:
                    os.close(fd)
                continue
            pid = os.fork()
            if pid == 0:
                _child(request, fds, [listener, conn, *running.values()])
            for fd in fds:
                os.close(fd)
            running[pid] = conn
            run_id = request["env"].get("PREFECT__FLOW_RUN_ID", "?")
            print(f"flow run {run_id}: forked as pid {pid}", flush=True)
            conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
        while running:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            waiting = running.pop(pid) if pid in running else None
            if waiting is not None:
                with contextlib.suppress(OSError):
                    waiting.sendall(
                        json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode() + b"\n"
                    )
                waiting.close()
        if stale and not running:
            listener.close()
            argv = [sys.executable, "-m", "deployments.warm_start", *sys.argv[1:]]
            os.execv(sys.executable, argv)  # noqa: S606 - the same server, reloaded


def main() -> None:
    if len(sys.argv) >= 3 and sys.argv[1] == "serve":
        socket_path = Path(sys.argv[3] if sys.argv[2] == "--socket" else sys.argv[2])
        serve(socket_path)
    else:
        run_client()


if __name__ == "__main__":
    main()

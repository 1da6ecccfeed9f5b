"""Prefect's temporary API server, started as a child that dies with this process.

Without PREFECT_API_URL, Prefect starts a throwaway API server on first use
(prefect.server.api.server.SubprocessASGIServer: one instance per port, `None` meaning "any
free port") and stops it only at an orderly exit (atexit). A command killed with SIGKILL, or
with a SIGTERM it does not catch, left it running: 265 MB and a port each time.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["SERVER_LOG", "supervise"]

SERVER_LOG = "reelflow-temporary-server.log"  # in PREFECT_HOME: the server's own output


def supervise(announce: Callable[[], None] | None = None) -> None:
    """Start the temporary server now, from the calling (main) thread, as a child the kernel
    kills when this process dies (reelflow.adapters.lifeline), and make it the instance
    Prefect uses: the subclass below is registered under Prefect's own key, so Prefect's
    later `SubprocessASGIServer()` returns it; only how the child is spawned differs.
    Nothing happens when an API URL is configured or ephemeral servers are disabled;
    `announce` is called just before a start (it takes a while)."""
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    if settings.api.url or not settings.server.ephemeral.enabled:
        return
    existing = SubprocessASGIServer._instances.get(None)
    if existing is None:
        existing = _supervised_server_class()()
    if existing.running:
        return
    if announce is not None:
        announce()
    # Prefect waits 20 s by default; a first start migrates a new SQLite database, which took
    # 25-40 s on a busy 2-core machine and then failed the whole command. The CLI makes 120 s
    # the default (reelflow.cli.common.throwaway_server_settings); a value the user set wins.
    existing.start(timeout=settings.server.ephemeral.startup_timeout_seconds)


def _supervised_server_class() -> type[Any]:
    import subprocess
    import sys

    import prefect
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import get_current_settings

    from reelflow.adapters.lifeline import die_with_parent

    class SupervisedServer(SubprocessASGIServer):
        def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
            # Prefect's own command and environment (prefect/server/api/server.py), plus
            # the parent-death signal.
            home = Path(get_current_settings().home)
            home.mkdir(parents=True, exist_ok=True)
            with open(home / SERVER_LOG, "ab") as log:  # the child keeps its own descriptor
                return self._spawn(log)

        def _spawn(self, log: BinaryIO) -> subprocess.Popen[Any]:
            return subprocess.Popen(
                args=[
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--app-dir",
                    str(prefect.__module_path__.parent),
                    "--factory",
                    "prefect.server.api.server:create_app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--log-level",
                    "error",
                    "--lifespan",
                    "on",
                ],
                env={
                    **os.environ,
                    "PREFECT_UI_ENABLED": "0",
                    "PREFECT__SERVER_EPHEMERAL": "1",
                    "PREFECT__SERVER_FINAL": "1",
                    **get_current_settings().to_environment_variables(exclude_unset=True),
                    # Its root logger too: a request cancelled as a run ends made its
                    # database pool log a CancelledError traceback (sqlalchemy.pool) on the
                    # command's stderr. This server's records end with the command.
                    "PREFECT_LOGGING_ROOT_LEVEL": os.environ.get(
                        "PREFECT_LOGGING_ROOT_LEVEL", "CRITICAL"
                    ),
                },
                preexec_fn=die_with_parent(),  # prctl only: safe after fork with threads
                # Its output goes to a file in Prefect's home, not the command's terminal:
                # torn down as the command exits, on a loaded machine it still printed
                # aiosqlite's pool and asyncio's pending tasks as tracebacks.
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    return SupervisedServer

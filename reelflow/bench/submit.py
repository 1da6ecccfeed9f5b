"""`reelflow bench submit`: how long a submitted import waits before it is Running.

Starts a throwaway Prefect server and SQLite database in a temporary directory, deploys the
import, and for each worker configuration starts one `prefect worker start` process and
submits `--runs` imports one after another (`reelflow import --submit`'s code path). For each
run it reads, from the run's state history, the time from the run's creation to its Running
state. Two configurations, measured in the same run:

    baseline  the stack's former settings: PREFECT_WORKER_QUERY_SECONDS=3, Prefect's default
              launcher (its workspace supervisor: 2-3 Python start-ups per run)
    direct    PREFECT_WORKER_QUERY_SECONDS=1 and REELFLOW_WORKER_PYTHON: the worker starts the
              engine directly (one cold Python start-up per run)
    warm      as direct, plus a warm-start server (deployments.warm_start): runs are forked
              from a process with Prefect and the flows already imported (`reelflow up`)

The runs themselves fail fast after they start (S3 points at a closed port): only the wait
before Running is measured. Every process started here dies with this command.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from reelflow.adapters.lifeline import die_with_parent

__all__ = ["register"]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

VARIANTS: dict[str, dict[str, str]] = {
    "baseline": {"PREFECT_WORKER_QUERY_SECONDS": "3", "REELFLOW_WORKER_PYTHON": ""},
    "direct": {
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_WORKER_PREFETCH_SECONDS": "10",
        "REELFLOW_WORKER_PYTHON": sys.executable,
    },
    "warm": {
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_WORKER_PREFETCH_SECONDS": "10",
        "REELFLOW_WORKER_PYTHON": sys.executable,
        "REELFLOW_WARM_START_SOCKET": "",  # filled in: the server this benchmark starts
    },
}


def _spawn(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent(),  # a killed benchmark leaves nothing behind
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _wait(what: str, check: Any, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if proc.poll() is not None:
            raise typer.BadParameter(f"{what} exited during start-up")
        time.sleep(0.3)
    raise typer.BadParameter(f"{what} did not start within {timeout:.0f}s")


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2.0, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def _worker_online(api: str, name: str) -> bool:
    try:
        workers = httpx.post(
            f"{api}/work_pools/reelflow/workers/filter", json={}, timeout=2.0, trust_env=False
        ).json()
    except (httpx.HTTPError, ValueError):
        return False
    return any(w.get("name") == name and w.get("status") == "ONLINE" for w in workers)


def _wait_for_start(client: Any, run_id: Any, timeout: float = 300) -> float:
    """Seconds from the run's creation to its Running state (waits for the run to end)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.read_flow_run(run_id)
        if run.state is not None and run.state.is_final():
            break
        time.sleep(0.5)
    states = client.read_flow_run_states(run_id)
    running = [s for s in states if s.type.value == "RUNNING"]
    if not running:
        names = [s.name for s in states]
        raise typer.BadParameter(f"run {run_id} never ran (states {names}); see the logs")
    return float((running[0].timestamp - run.created).total_seconds())


def measure(runs: int, workdir: Path, say: Any) -> dict[str, Any]:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from deployments.submit import submit_run
    from reelflow.adapters.db import migrate
    from reelflow.core.manifest import parse_manifest
    from reelflow.devtools.s3server import free_port
    from reelflow.services import resources
    from reelflow.settings import reset_settings

    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    base = {
        **os.environ,
        "PREFECT_API_URL": api,
        "PREFECT_HOME": str(workdir / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
        "PREFECT_LOGGING_TO_API_ENABLED": "false",
        "DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}",
        "REELFLOW_HOME": str(ROOT),
        "S3_ENDPOINT": "http://127.0.0.1:9",
        "S3_ACCESS_KEY_ID": "bench",
        "S3_SECRET_ACCESS_KEY": "bench-secret",
        "REELFLOW_RETRIES": "0",
        "REELFLOW_WORK_POOL": "reelflow",
    }
    for key in ("DATABASE_URL", "S3_ENDPOINT", "REELFLOW_WORK_POOL"):
        os.environ[key] = base[key]
    reset_settings()
    resources.dispose()
    migrate.upgrade(resources.engine())

    say("starting a Prefect server ...")
    server = _spawn(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        base,
        workdir / "server.log",
    )
    figures: dict[str, Any] = {}
    try:
        _wait("the Prefect server", lambda: _ok(f"{api}/health"), server, 240)
        with temporary_settings(updates={PREFECT_API_URL: api}), get_client(sync_client=True) as c:
            for variant, overrides in VARIANTS.items():
                env = {**base, **overrides}
                if not env["REELFLOW_WORKER_PYTHON"]:
                    env.pop("REELFLOW_WORKER_PYTHON")
                say(f"{variant}: deploy, start a worker ...")
                deploy = subprocess.run(
                    [sys.executable, "-m", "reelflow.cli.main", "deploy", "--only", "import"],
                    cwd=ROOT,
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if deploy.returncode != 0:
                    raise typer.BadParameter(f"reelflow deploy failed:\n{deploy.stderr}")
                name = f"bench-{variant}"
                engine = None
                if "REELFLOW_WARM_START_SOCKET" in overrides:
                    sock = workdir / f"{variant}.sock"
                    env["REELFLOW_WARM_START_SOCKET"] = str(sock)
                    engine = _spawn(
                        [
                            sys.executable,
                            "-m",
                            "deployments.warm_start",
                            "serve",
                            "--socket",
                            str(sock),
                        ],
                        env,
                        workdir / f"engine-{variant}.log",
                    )
                    _wait("the warm-start server", sock.exists, engine, 300)
                worker = _spawn(
                    [
                        str(BIN / "prefect"),
                        "worker",
                        "start",
                        "--pool",
                        "reelflow",
                        "--type",
                        "process",
                        "--name",
                        name,
                        "--install-policy",
                        "never",
                    ],
                    env,
                    workdir / f"worker-{variant}.log",
                )
                try:
                    _wait(
                        f"the {variant} worker", lambda n=name: _worker_online(api, n), worker, 180
                    )
                    waits = []
                    for i in range(runs):
                        movie = f"bench-submit-{variant}-{i}-{uuid.uuid4().hex[:8]}"
                        manifest = parse_manifest(
                            {
                                "movie_id": movie,
                                "episodes": [
                                    {"number": 1, "thumbnail_url": "http://127.0.0.1:9/t.jpg"}
                                ],
                            }
                        )
                        submitted = submit_run(manifest)
                        waits.append(_wait_for_start(c, submitted.run.id))
                        say(f"  {variant} run {i + 1}/{runs}: Running after {waits[-1]:.2f} s")
                finally:
                    _stop(worker)
                    if engine is not None:
                        _stop(engine)
                figures[variant] = {
                    "worker_env": {k: v for k, v in overrides.items() if v},
                    "seconds": [round(w, 2) for w in waits],
                    "median_s": round(statistics.median(waits), 2),
                    "max_s": round(max(waits), 2),
                }
    finally:
        _stop(server)
    return figures


def register(bench_app: typer.Typer) -> None:
    @bench_app.command("submit")
    def bench_submit(
        runs: Annotated[int, typer.Option(min=1, help="Runs submitted per configuration")] = 5,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Submit-to-start: seconds from a submitted run's creation to its Running state,
        the stack's former worker settings against its current ones, in the same run."""
        say = (lambda *a: print(*a, file=sys.stderr)) if as_json else print
        workdir = Path(tempfile.mkdtemp(prefix="reelflow-bench-submit-"))
        figures = measure(runs, workdir, say)
        before, after = figures["baseline"], figures["warm"]
        result = {
            "bench": "submit",
            "runs": runs,
            **figures,
            "speedup_median": round(before["median_s"] / after["median_s"], 2),
            "logs": str(workdir),
        }
        if not as_json:
            for variant in VARIANTS:
                f = figures[variant]
                say(f"{variant:9} median {f['median_s']:.2f} s, max {f['max_s']:.2f} s")
            say(f"submit-to-start {result['speedup_median']}x faster (median)")
        print(json.dumps(result))

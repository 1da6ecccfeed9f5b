"""End-to-end fixtures: one real `prefect server start` process for the session, real workers.

The server runs on a free port with its own PREFECT_HOME (SQLite inside it) and its scheduler
off (so the hourly and 20-minute schedules deployed here create no runs that would compete with
the runs a test queues). Workers are `prefect worker start` processes with the environment an
operator would give them: PostgreSQL (a fresh database), S3 (moto over HTTP), loopback origins
allowed, fast retries, REELFLOW_HOME pointing at this checkout. The test process talks to the
same server (PREFECT_API_URL) and the same database.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.e2e import (
    BIN,
    E2E_MEDIA,
    IMPORT_EPISODES,
    IMPORT_MOVIE,
    ORIGIN_HOST_LIMIT,
    ROOT,
    S3_REQUEST_LIMIT,
    Proc,
    http_ok,
    reelflow_json,
    wait_final,
    wait_until,
)
from tests.support.movies import serve_movie
from tests.support.services import migrated_database


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every end-to-end test on one pytest-xdist worker (`make test` runs `-n 2 --dist
    loadgroup`): they share one real Prefect server and its workers, started once."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.xdist_group("e2e"))


class PrefectServer:
    """`prefect server start` in a child process (API + UI); restart() keeps its database."""

    def __init__(self, home: Path, port: int) -> None:
        self.home = home
        self.api_url = f"http://127.0.0.1:{port}/api"
        self.ui_url = f"http://127.0.0.1:{port}"
        self.cmd = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1"]
        self.cmd += ["--port", str(port)]
        self.env = {
            **os.environ,
            "PREFECT_HOME": str(home),
            "PREFECT_API_URL": self.api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
        }
        self.proc = self.start()

    def start(self) -> Proc:
        proc = Proc("prefect server", self.cmd, self.env, self.home / "server.log")
        self.proc = proc
        wait_until("the Prefect server", lambda: http_ok(f"{self.api_url}/health"), 120, proc)
        return proc

    def restart(self) -> None:
        self.proc.stop()
        self.start()


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """A real Prefect server with its own PREFECT_HOME; the test process points at it."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from reelflow.devtools.s3server import free_port

    if not (BIN / "prefect").exists():
        pytest.fail(f"the prefect command is missing from {BIN}: run `make install`")
    server = PrefectServer(tmp_path_factory.mktemp("prefect-home"), free_port())
    try:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            yield server
    finally:
        server.proc.stop()


@pytest.fixture(scope="session")
def e2e_db(pg_admin: str) -> Iterator[str]:
    """A fresh PostgreSQL database for the workers and this process, migrated to head."""
    with migrated_database(pg_admin) as url:
        yield url


@pytest.fixture(scope="session")
def stack_env(
    prefect_api: PrefectServer,
    e2e_db: str,
    s3_server: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, str]]:
    """The environment of every worker and CLI process, also applied to this process."""
    from reelflow.services import reset, resources

    values = {
        "PREFECT_API_URL": prefect_api.api_url,
        "PREFECT_HOME": str(tmp_path_factory.mktemp("prefect-client-home")),
        "PREFECT_LOGGING_TO_API_ENABLED": "true",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_WORKER_PREFETCH_SECONDS": "5",
        "REELFLOW_HOME": str(ROOT),
        "DATABASE_URL": e2e_db,
        "S3_ENDPOINT": s3_server.endpoint,
        "S3_ACCESS_KEY_ID": "test-access",
        "S3_SECRET_ACCESS_KEY": "test-secret-do-not-log",
        "S3_BUCKET_NAME": f"e2e-{uuid.uuid4().hex[:12]}",
        "REELFLOW_FETCH_ALLOW": "127.0.0.1",
        "REELFLOW_RETRY_BASE_DELAY": "0.05",
        "REELFLOW_RETRIES": "2",
        "REELFLOW_S3_REQUEST_LIMIT": str(S3_REQUEST_LIMIT),
        "REELFLOW_ORIGIN_HOST_LIMIT": str(ORIGIN_HOST_LIMIT),
        "REELFLOW_SPOOL_DIR": str(tmp_path_factory.mktemp("spool")),
    }
    env = {**os.environ, **values}
    env.pop("REELFLOW_WORK_POOL", None)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in values.items():
            if not key.startswith(
                "PREFECT_"
            ):  # this process's Prefect settings: temporary_settings
                mp.setenv(key, value)
        reset()
        resources.store().ensure_bucket(values["S3_BUCKET_NAME"])
        yield env
        reset()


@pytest.fixture(scope="session")
def deployed(stack_env: dict[str, str]) -> dict[str, Any]:
    """`reelflow deploy` once for the session (tests of deploy itself run it again)."""
    report = reelflow_json(["deploy", "--json"], stack_env)
    assert report["errors"] == 0, report
    return report


@dataclass
class Workers:
    """Start `prefect worker start` processes for one test; all are stopped when it ends."""

    env: dict[str, str]
    logs: Path
    started: list[Proc]

    def start(self, name: str, *, limit: int | None = None) -> Proc:
        cmd = [
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
            "--no-create-pool-if-not-found",
        ]
        if limit is not None:
            cmd += ["--limit", str(limit)]
        proc = Proc(f"worker {name}", cmd, self.env, self.logs / f"worker-{name}.log")
        self.started.append(proc)
        return proc

    def wait_online(self, *names: str, timeout: float = 90) -> None:
        from prefect.client.orchestration import get_client

        def online() -> bool:
            with get_client(sync_client=True) as client:
                workers = client.read_workers_for_work_pool("reelflow")
            seen = {w.name for w in workers if str(w.status.value) == "ONLINE"}
            return set(names) <= seen

        proc = next((p for p in self.started if p.name == f"worker {names[-1]}"), None)
        wait_until(f"workers {names} online", online, timeout, proc)

    def stop_all(self) -> None:
        for proc in self.started:
            proc.stop()


@pytest.fixture()
def workers(
    deployed: dict[str, Any], stack_env: dict[str, str], tmp_path: Path
) -> Iterator[Workers]:
    group = Workers(stack_env, tmp_path, [])
    try:
        yield group
    finally:
        group.stop_all()


@pytest.fixture(scope="session")
def session_workers(
    deployed: dict[str, Any], stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[], Workers]]:
    """Workers for session-scoped fixtures (stopped by whoever starts them, or at the end)."""
    groups: list[Workers] = []

    def make() -> Workers:
        group = Workers(stack_env, tmp_path_factory.mktemp("workers"), [])
        groups.append(group)
        return group

    try:
        yield make
    finally:
        for group in groups:
            group.stop_all()


@dataclass(frozen=True)
class FinishedImport:
    run_id: str
    second_id: str
    manifest: dict[str, Any]
    manifest_path: Path
    first_was_new: bool
    run: Any
    origin_requests: int


@pytest.fixture(scope="session")
def origin() -> Iterator[Any]:
    from reelflow.devtools.origin import Origin

    with Origin() as server:
        yield server


@pytest.fixture(scope="session")
def finished_import(
    session_workers: Callable[[], Workers],
    stack_env: dict[str, str],
    origin: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> FinishedImport:
    """One import submitted twice (CLI, then the Python function), run by a worker to the end."""
    from deployments.submit import submit_import
    from reelflow.core.manifest import parse_manifest

    manifest = serve_movie(origin, IMPORT_MOVIE, range(1, IMPORT_EPISODES + 1), **E2E_MEDIA)
    path = Path(tmp_path_factory.mktemp("manifests")) / "movie.json"
    path.write_text(json.dumps(manifest))
    workers = session_workers()
    workers.start("w-import")

    submitted = reelflow_json(["import", str(path), "--submit", "--json"], stack_env)
    second = submit_import(parse_manifest(manifest))  # the "double click"
    runs = wait_final([submitted["flow_run_id"]], timeout=240)
    workers.stop_all()
    return FinishedImport(
        run_id=submitted["flow_run_id"],
        second_id=str(second),
        manifest=manifest,
        manifest_path=path,
        first_was_new=submitted["new"],
        run=runs[submitted["flow_run_id"]],
        origin_requests=origin.requests(),
    )

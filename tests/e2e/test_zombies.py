"""No zombie runs: an import whose process is SIGKILLed (no `finally`, nobody left to report
it) ends Crashed within REELFLOW_ZOMBIE_AFTER_SECONDS, through the automation `reelflow
deploy` creates and the heartbeats every run sends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reelflow.devtools.origin import Origin
from tests.support.e2e import E2E_MEDIA, ROOT, reelflow_json, wait_final, wait_until
from tests.support.movies import serve_movie

pytestmark = pytest.mark.slow

ZOMBIE_AFTER = 60  # the setting's minimum: the shortest honest wait


def _running_import_runs() -> dict[str, Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type={"any_": ["RUNNING"]})  # type: ignore[arg-type]
            )
        )
    return {str(r.id): r for r in runs}


def _heartbeats(run_id: str) -> int:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        response = client._client.post(
            "/events/filter",
            json={
                "filter": {
                    "event": {"name": ["prefect.flow-run.heartbeat"]},
                    "resource": {"id": [f"prefect.flow-run.{run_id}"]},
                },
                "limit": 10,
            },
        )
    response.raise_for_status()
    return len(response.json()["events"])


def test_a_killed_import_ends_crashed_within_the_bound(
    deployed: dict[str, Any], stack_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**stack_env, "REELFLOW_ZOMBIE_AFTER_SECONDS": str(ZOMBIE_AFTER)}
    report = reelflow_json(["deploy", "--json"], env)
    automation = [c for c in report["changes"] if c["kind"] == "automation"]
    assert [c["action"] for c in automation] == ["updated"], automation
    try:
        again = reelflow_json(["deploy", "--json"], env)  # idempotent
        assert [c["action"] for c in again["changes"] if c["kind"] == "automation"] == ["unchanged"]
        _kill_an_import_and_wait_for_crashed(env, tmp_path)
    finally:  # the session's other tests expect the session's settings on the server
        assert reelflow_json(["deploy", "--json"], stack_env)["errors"] == 0


def _kill_an_import_and_wait_for_crashed(env: dict[str, str], tmp_path: Path) -> None:
    with Origin(latency_ms=600_000) as origin:  # downloads stall: the run stays Running
        manifest = serve_movie(origin, "e2e-zombie", 1, **E2E_MEDIA)
        path = tmp_path / "movie.json"
        path.write_text(json.dumps(manifest))
        before = set(_running_import_runs())
        proc = subprocess.Popen(  # the import runs in this CLI process, not on a worker
            [sys.executable, "-m", "reelflow.cli.main", "import", str(path)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            run_id = wait_until(
                "the import to be Running",
                lambda: next(iter(set(_running_import_runs()) - before), None),
                180,
            )
            wait_until("its first heartbeat", lambda: _heartbeats(run_id) > 0, 60)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
            # The bound: no heartbeat for ZOMBIE_AFTER seconds, then the automation acts
            # (Prefect evaluates proactive triggers every few seconds).
            run = wait_final([run_id], timeout=ZOMBIE_AFTER + 60)[run_id]
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
    assert run.state.type.value == "CRASHED", (run.state.name, run.state.message)
    assert "heartbeat" in (run.state.message or "")

"""Expected failures in a worker's flow runs are said once, without a traceback: an asset whose
retries ran out, an asset refused at once, a Partial import and an executing orphan sweep that
the safety cap refuses. Read from the worker's own output (what an operator tails) and from
the Prefect API (what the UI shows)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.e2e import E2E_MEDIA, reelflow_json, wait_final, wait_until
from tests.support.movies import serve_movie

pytestmark = pytest.mark.slow


def _api_logs(run_id: str) -> list[tuple[int, bool, str]]:
    """(level, from a task run, message) of every log of the flow run."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    with get_client(sync_client=True) as client:
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])), limit=200
        )
    return [(log.level, log.task_run_id is not None, log.message) for log in logs]


def test_expected_failures_in_a_worker_are_one_line_each(workers, stack_env, origin, tmp_path):
    from prefect.deployments import run_deployment

    from tests.support.cleanup import put

    manifest = serve_movie(origin, "e2e-quiet", [1], previews=False, **E2E_MEDIA)
    manifest["episodes"] += [
        # a refused connection: retried until the retries run out
        {"number": 2, "thumbnail_url": "http://127.0.0.1:1/gone.jpg?sig=e2e"},
        {"number": 3, "thumbnail_url": origin.url("/missing.jpg")},  # 404: terminal at once
    ]
    path = Path(tmp_path) / "movie.json"
    path.write_text(json.dumps(manifest))
    worker = workers.start("w-quiet")
    workers.wait_online("w-quiet")

    submitted = reelflow_json(["import", str(path), "--submit", "--json"], stack_env)
    import_id = submitted["flow_run_id"]
    import_run = wait_final([import_id], timeout=240)[import_id]
    assert import_run.state.name == "Partial", import_run.state

    # Managed objects past the grace period that no row references, over a 0.1% cap (the
    # session's bucket holds other tests' objects too), so the executing sweep is refused.
    for n in range(3):
        put(f"episode-thumbnails/e2e-unknown/ep{n}_thumb.webp")
    sweep_id = str(
        run_deployment(
            "orphan-cleanup/orphan-cleanup",
            parameters={"execute": True, "grace_hours": 0},
            job_variables={"env": {"REELFLOW_ORPHAN_MAX_FRACTION": "0.001"}},
            timeout=0,
        ).id
    )
    sweep_run = wait_final([sweep_id], timeout=240)[sweep_id]
    reason = sweep_run.state.message
    assert sweep_run.state.is_failed() and reason.startswith("refusing to sweep"), reason
    # The flow-run process logs its exit after the final state: wait until it has gone.
    wait_until(
        "the sweep's process to end",
        lambda: (
            "Finished in state Failed('refusing" in worker.log.read_text()
            and not any(p for p in _children(worker.pid))
        ),
        60,
    )
    worker.stop()

    output = worker.log.read_text()
    assert "Traceback" not in output, output[-6000:]
    import_logs = _api_logs(import_id)
    sweep_logs = _api_logs(sweep_id)
    assert not any("Traceback" in m for _, _, m in import_logs + sweep_logs)
    # One error line per failed asset from its task run, whether retried or not.
    for name in ("gone.jpg", "missing.jpg"):
        task_errors = [m for level, task, m in import_logs if task and level >= 40 and name in m]
        assert len(task_errors) == 1, task_errors
        assert "sig=" not in task_errors[0], "the URL's token is redacted"
    # The refusal is said once: the run's final state.
    assert sum(reason in m for _, _, m in sweep_logs) == 1, sweep_logs
    assert output.count(reason) == 1, output[-4000:]


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]

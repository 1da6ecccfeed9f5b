"""Queue priorities: with nobody serving, low runs pile up; a critical run queued last still
starts first once a worker (one run at a time) comes online."""

from __future__ import annotations

import pytest

from tests.support.e2e import wait_final

pytestmark = pytest.mark.slow


def test_a_critical_run_queued_after_low_runs_starts_first(workers, stack_env):
    from deployments.submit import submit_import
    from reelflow.core.manifest import parse_manifest

    def empty(movie_id: str):  # no episodes: the run only records the movie
        return parse_manifest({"movie_id": movie_id, "episodes": []})

    # No worker serves the pool now (each test stops the workers it started): runs pile up.
    low = [submit_import(empty(f"e2e-low-{n}"), work_queue_name="low") for n in range(3)]
    critical = submit_import(empty("e2e-critical"))  # the deployment's queue: critical

    workers.start("w-priority", limit=1)
    runs = wait_final([*low, critical], timeout=240)

    assert all(r.state.is_completed() for r in runs.values()), {
        k: r.state.name for k, r in runs.items()
    }
    assert runs[str(critical)].work_queue_name == "critical"
    assert {runs[str(i)].work_queue_name for i in low} == {"low"}
    first = runs[str(critical)].start_time
    assert all(first < runs[str(i)].start_time for i in low), {
        k: (r.work_queue_name, r.start_time) for k, r in runs.items()
    }

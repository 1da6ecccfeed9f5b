"""Global concurrency limits in deployed runs: a per-host limit bounds the downloads from that
host, while another host in the same run is not held back by it."""

from __future__ import annotations

import contextlib

import pytest
from prefect.exceptions import ObjectAlreadyExists

from tests.support.e2e import E2E_MEDIA, wait_final
from tests.support.movies import serve_movie

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "runner",
    [
        {"REELFLOW_IMPORT_CONCURRENCY": "6"},
        # the same downloads spread over 2 Dask worker processes of 3 threads each
        {
            "REELFLOW_TASK_RUNNER": "dask",
            "REELFLOW_DASK_WORKERS": "2",
            "REELFLOW_DASK_THREADS_PER_WORKER": "3",
        },
    ],
    ids=["thread", "dask"],
)
def test_a_per_host_limit_of_one_serialises_that_hosts_downloads(workers, stack_env, runner):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.deployments import run_deployment

    from reelflow.devtools.origin import Fault, Origin

    # What an operator does for a fragile CDN (or `reelflow deploy --origin-host localhost=1`).
    with get_client(sync_client=True) as client, contextlib.suppress(ObjectAlreadyExists):
        client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name="reelflow-origin-localhost", limit=1)
        )
    movie = f"e2e-limits-{runner.get('REELFLOW_TASK_RUNNER', 'thread')}"

    slow = [Fault.latency(0.3, times=None)]
    slower = [Fault.latency(1.5, times=None)]
    with Origin() as fragile, Origin() as sturdy:
        limited = serve_movie(
            fragile, movie, range(1, 4), host="localhost", every_asset=slow, **E2E_MEDIA
        )
        free = serve_movie(
            sturdy, movie, range(4, 7), host="127.0.0.1", every_asset=slower, **E2E_MEDIA
        )
        manifest = limited | {"episodes": limited["episodes"] + free["episodes"]}
        run = run_deployment(
            "import-episodes/import",
            parameters={"manifest": manifest},
            timeout=0,
            as_subflow=False,
            # six downloads at once if nothing held them back
            job_variables={"env": runner},
        )
        workers.start("w-limits")
        final = wait_final([run.id], timeout=240)[str(run.id)]
        fragile_peak, sturdy_peak = fragile.peak_in_flight, sturdy.peak_in_flight
        fragile_requests = fragile.requests()

    assert final.state.is_completed(), (final.state.name, final.state.message)
    assert fragile_requests == 6
    assert fragile_peak == 1, "the localhost limit (1) must hold across threads and workers"
    assert sturdy_peak >= 2, "127.0.0.1 has its own limit: its downloads overlap"
    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name("reelflow-origin-localhost")
    assert (limit.limit, limit.active_slots) == (1, 0)

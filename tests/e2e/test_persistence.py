"""Prefect's database is the queue: a submitted run waits there through a server restart and
is run by the next worker that comes online (the seed's in-memory queue lost it)."""

from __future__ import annotations

import pytest

from tests.support.e2e import wait_final

pytestmark = pytest.mark.slow


def test_a_queued_run_survives_a_server_restart(prefect_api, workers, stack_env):
    from prefect.client.orchestration import get_client

    from deployments.submit import submit_import
    from reelflow.core.manifest import parse_manifest

    run_id = submit_import(parse_manifest({"movie_id": "e2e-restart", "episodes": []}))
    prefect_api.restart()
    with get_client(sync_client=True) as client:
        waiting = client.read_flow_run(run_id)
    assert waiting.state is not None and waiting.state.is_scheduled(), waiting.state

    workers.start("w-restart")
    final = wait_final([run_id], timeout=180)[str(run_id)]
    assert final.state.is_completed(), (final.state.name, final.state.message)

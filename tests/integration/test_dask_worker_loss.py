"""A Dask worker process killed in the middle of an import: its chunks (two assets each here)
are done by the other worker, exactly once. Every asset ends with one row, one object whose
bytes hash to the row's sha256, and no object is uploaded twice.

The cluster is the test's own (a distributed.LocalCluster of 2 worker processes, given to the
run by REELFLOW_DASK_ADDRESS), so it knows the workers' pids; the origin holds every download
until both workers have assets in flight, then one worker is SIGKILLed and the rest let go."""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from collections import Counter

import pytest

from reelflow.devtools.origin import Fault, Origin
from reelflow.services import reset
from tests.support.movies import db_state, run_import, serve_movie
from tests.support.s3_client import s3_client
from tests.support.s3_faults import FlakyS3

pytestmark = pytest.mark.usefixtures("prefect_server")
MOVIE = "mv-dask-kill"
EPISODES = 8


def test_a_killed_dask_worker_loses_no_asset_and_duplicates_none(env, monkeypatch):
    from distributed import Client, LocalCluster

    counting = FlakyS3(env["S3_ENDPOINT"], failures=0)
    threading.Thread(target=counting.serve_forever, daemon=True).start()
    # The workers' environment is set when they start: S3 through the counting proxy.
    monkeypatch.setenv("S3_ENDPOINT", counting.endpoint)
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=2, processes=True, dashboard_address=None
    )
    client = Client(cluster)
    try:
        monkeypatch.setenv("REELFLOW_TASK_RUNNER", "dask")
        monkeypatch.setenv("REELFLOW_DASK_ADDRESS", cluster.scheduler_address)
        # A standing cluster's chunks in flight are REELFLOW_IMPORT_CONCURRENCY: its 4 threads.
        monkeypatch.setenv("REELFLOW_IMPORT_CONCURRENCY", "4")
        reset()
        pids = client.run(os.getpid)  # worker address -> its process id
        assert len(pids) == 2
        gate = threading.Event()
        with Origin() as origin:
            # 16 assets over 4 slots: chunks of 2 (an even share of two rounds), so the worker
            # dies in the middle of chunks that have an asset still to start.
            data = serve_movie(origin, MOVIE, EPISODES, every_asset=[Fault.hold(gate, times=1)])
            outcome: dict[str, object] = {}
            runner = threading.Thread(
                target=lambda: outcome.update(zip(("state", "summary"), run_import(data)))
            )
            runner.start()
            # Both workers have downloads held at the origin (2 threads each: 4 in flight).
            deadline = time.monotonic() + 120
            while origin.in_flight < 4:
                assert time.monotonic() < deadline, f"only {origin.in_flight} downloads started"
                assert runner.is_alive(), outcome
                time.sleep(0.1)
            victim = sorted(pids.values())[0]
            os.kill(victim, signal.SIGKILL)
            time.sleep(0.5)
            gate.set()
            runner.join(300)
            assert not runner.is_alive(), "the import did not finish"
            downloads = origin.requests()
    finally:
        client.close()
        cluster.close()
        counting.shutdown()
        counting.server_close()
        monkeypatch.setenv("S3_ENDPOINT", env["S3_ENDPOINT"])  # moto itself, for the checks
        reset()

    # The killed worker's two held downloads were made again by another worker.
    assert downloads >= 2 * EPISODES + 2, downloads
    state = outcome["state"]
    assert state.is_completed(), state.message  # type: ignore[attr-defined]
    episodes, assets = db_state(MOVIE)
    assert len(episodes) == EPISODES and len(assets) == 2 * EPISODES, "one row per asset, once"
    assert all(a.status == "stored" for a in assets.values()), {
        k: (a.status, a.last_error) for k, a in assets.items()
    }

    s3 = s3_client()
    for asset in assets.values():
        body = s3.get_object(Bucket=asset.bucket, Key=asset.key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == asset.sha256, asset.key
    uploads = Counter(counting.put_paths)
    twice = {path: n for path, n in uploads.items() if n > 1}
    assert not twice, f"uploaded more than once: {twice}"
    stored_keys = {f"/{a.bucket}/{a.key}" for a in assets.values()}
    assert stored_keys <= set(uploads), "every stored object was uploaded through the proxy"

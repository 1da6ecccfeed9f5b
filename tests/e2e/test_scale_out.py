"""Scale-out: two worker processes on one pool run two backfills of the same 200 episodes at
once; every asset is imported exactly once, and both workers take a share."""

from __future__ import annotations

import re

import pytest

from tests.support.e2e import wait_final
from tests.support.movies import jpeg

pytestmark = pytest.mark.slow

MOVIE = "e2e-backfill"
EPISODES = 200


def seed(origin) -> None:
    """200 episodes on temporary URLs that an import never finished: half recorded as failed,
    half with no asset row at all (both are backfill candidates)."""
    from sqlalchemy import delete, select, update

    from reelflow.adapters.db import imports
    from reelflow.adapters.db.schema import Asset, Episode
    from reelflow.core.manifest import parse_manifest
    from reelflow.services import resources

    episodes = []
    for n in range(1, EPISODES + 1):
        path = f"/{MOVIE}/{n}/thumb.jpg"
        origin.add(path, jpeg(n % 7, width=160, height=90), "image/jpeg")
        episodes.append({"number": n, "thumbnail_url": f"{origin.url(path)}?sig=e2e"})
    engine = resources.engine()
    imports.upsert_manifest(engine, parse_manifest({"movie_id": MOVIE, "episodes": episodes}))
    with engine.begin() as conn:
        ids = select(Episode.id).where(Episode.movie_id == MOVIE)
        conn.execute(
            update(Asset)
            .where(Asset.episode_id.in_(ids), Asset.id % 2 == 0)
            .values(status="failed", last_error="seeded: origin timed out", attempts=4)
        )
        conn.execute(delete(Asset).where(Asset.episode_id.in_(ids), Asset.status != "failed"))


def test_two_workers_share_a_backfill_and_no_asset_is_processed_twice(workers, stack_env):
    from prefect.deployments import run_deployment
    from sqlalchemy import func, select

    from reelflow.adapters.db import claims
    from reelflow.adapters.db.schema import Asset, Episode
    from reelflow.devtools.origin import Fault, Origin
    from reelflow.services import resources

    # Each download takes a moment, so the second run starts while the first is still busy.
    with Origin() as origin:
        seed(origin)
        assert claims.count_backfill(resources.engine()) == EPISODES
        for n in range(1, EPISODES + 1):
            origin.add_faults(f"/{MOVIE}/{n}/thumb.jpg", Fault.latency(0.1, times=1))

        a = workers.start("w-scale-a", limit=1)
        b = workers.start("w-scale-b", limit=1)
        workers.wait_online("w-scale-a", "w-scale-b")
        options = {
            "timeout": 0,
            "as_subflow": False,
            # The claim is what is under test here; global limits only add API calls.
            "job_variables": {
                "env": {"REELFLOW_GLOBAL_LIMITS": "false", "REELFLOW_IMPORT_CONCURRENCY": "4"}
            },
        }
        runs = [
            run_deployment("backfill/backfill", parameters={"batch_size": 10}, **options)
            for _ in range(2)
        ]
        final = wait_final([r.id for r in runs], timeout=300)
        requests = {n: origin.requests(f"/{MOVIE}/{n}/thumb.jpg") for n in range(1, EPISODES + 1)}

    for run in final.values():
        assert run.state.is_completed(), (run.state.name, run.state.message)
    claimed = [
        int(re.search(r"(\d+) assets claimed", r.state.message).group(1)) for r in final.values()
    ]
    assert sum(claimed) == EPISODES, claimed
    assert min(claimed) > 0, f"both runs must take a share: {claimed}"
    twice = {n: count for n, count in requests.items() if count != 1}
    assert not twice, f"every source fetched exactly once; not these: {twice}"

    with resources.engine().connect() as conn:
        rows = conn.execute(
            select(Asset.status, Asset.attempts, func.count())
            .join(Episode)
            .where(Episode.movie_id == MOVIE)
            .group_by(Asset.status, Asset.attempts)
        ).all()
        shown = conn.execute(
            select(func.count())
            .select_from(Episode)
            .where(Episode.movie_id == MOVIE, Episode.thumbnail_url.like("s3://%"))
        ).scalar_one()
    # One attempt each: the failed half had 4 before (seeded), the rows made by the claim 0.
    assert sorted(rows) == [("stored", 1, EPISODES // 2), ("stored", 5, EPISODES // 2)], rows
    assert shown == EPISODES

    # Each worker ran exactly one of the two runs. Both may try to submit the same run; the
    # server lets one through and the other logs "Aborted submission", so that one didn't run it.
    ran = {
        name: [
            str(r)
            for r in final
            if f"submitting flow run '{r}'" in proc.text()
            and f"Aborted submission of flow run '{r}'" not in proc.text()
        ]
        for name, proc in (("a", a), ("b", b))
    }
    assert sorted(len(v) for v in ran.values()) == [1, 1], ran

"""`reelflow deploy` against a real Prefect server: what it creates, and that it is idempotent."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.e2e import S3_REQUEST_LIMIT, reelflow, reelflow_json

pytestmark = pytest.mark.slow

DEPLOYMENTS = {
    # name: (flow, entrypoint, queue, deployment concurrency limit, cron)
    "import-episodes/import": (
        "flows/import_episodes.py:import_episodes",
        "critical",
        None,
        None,
    ),
    "purge-objects/purge": ("flows/purge_objects.py:purge_objects", "critical", 1, None),
    "backfill/backfill": ("flows/backfill.py:backfill", "default", None, None),
    "backfill/backfill-hourly": ("flows/backfill.py:backfill", "low", 1, "0 * * * *"),
    "presign-warmup/presign-warmup": (
        "flows/presign_warmup.py:presign_warmup",
        "default",
        1,
        "*/20 * * * *",
    ),
    "orphan-cleanup/orphan-cleanup": (
        "flows/orphan_cleanup.py:orphan_cleanup",
        "low",
        1,
        "0 3 * * *",
    ),
    "verify/verify": ("flows/verify.py:verify", "low", 1, "0 2 * * *"),
}


def snapshot() -> dict[str, Any]:
    """Everything deploy manages, with ids and `updated` stamps: equal means nothing changed."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        pool = client.read_work_pool("reelflow")
        queues = {
            q.name: (str(q.id), q.priority, q.description)
            for q in client.read_work_queues(work_pool_name="reelflow")
        }
        limits = {
            gcl.name: (str(gcl.id), gcl.limit, gcl.updated)
            for gcl in client.read_global_concurrency_limits(limit=200)
            if gcl.name.startswith("reelflow-")
        }
        deployments = {}
        for name in DEPLOYMENTS:
            d = client.read_deployment_by_name(name)
            deployments[name] = {
                "id": str(d.id),
                "updated": d.updated,
                "schedules": sorted(
                    (str(s.id), s.slug, s.schedule.model_dump_json(), s.active)
                    for s in client.read_deployment_schedules(d.id)
                ),
            }
    return {"pool": (str(pool.id), pool.type), "queues": queues, "limits": limits, **deployments}


def test_deploy_creates_the_pool_queues_limits_and_every_deployment(deployed):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        pool = client.read_work_pool("reelflow")
        assert pool.type == "process"
        priorities = {
            q.name: q.priority for q in client.read_work_queues(work_pool_name="reelflow")
        }
        assert priorities == {"critical": 1, "default": 2, "low": 3}
        s3_limit = client.read_global_concurrency_limit_by_name("reelflow-s3")
        assert (s3_limit.limit, s3_limit.active) == (S3_REQUEST_LIMIT, True)

        for name, (entrypoint, queue, limit, cron) in DEPLOYMENTS.items():
            d = client.read_deployment_by_name(name)
            assert (d.entrypoint, d.work_pool_name, d.work_queue_name) == (
                entrypoint,
                "reelflow",
                queue,
            ), name
            assert d.job_variables["env"]["REELFLOW_GLOBAL_LIMITS"] == "true", name
            assert d.enforce_parameter_schema, name
            assert d.pull_steps == [
                {
                    "prefect.deployments.steps.set_working_directory": {
                        "directory": "{{ $REELFLOW_HOME }}"
                    }
                }
            ], name
            got_limit = d.global_concurrency_limit.limit if d.global_concurrency_limit else None
            assert got_limit == limit, name
            schedules = client.read_deployment_schedules(d.id)
            assert [s.schedule.cron for s in schedules] == ([cron] if cron else []), name
            assert all(s.schedule.timezone == "UTC" and s.active for s in schedules), name
            assert d.paused is False, name


def test_the_nightly_sweep_is_scheduled_at_3_utc_and_deletes_with_the_cap_on(deployed):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        d = client.read_deployment_by_name("orphan-cleanup/orphan-cleanup")
        [schedule] = client.read_deployment_schedules(d.id)
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 3 * * *", "UTC")
    assert schedule.slug == "nightly-0300-utc" and schedule.active
    assert d.parameters == {"execute": True, "force": False}
    assert d.work_queue_name == "low"
    assert d.global_concurrency_limit is not None and d.global_concurrency_limit.limit == 1
    assert d.concurrency_options is not None
    assert d.concurrency_options.collision_strategy.value == "CANCEL_NEW"


def test_second_deploy_changes_nothing(deployed, stack_env):
    before = snapshot()
    report = reelflow_json(["deploy", "--json"], stack_env)
    assert report["changed"] == 0 and report["errors"] == 0, report
    actions = {c["action"] for c in report["changes"]}
    assert actions == {"unchanged"}
    assert snapshot() == before, "a second deploy must keep ids, schedules and timestamps"


def test_deploy_puts_back_what_drifted_and_removes_schedules_not_in_the_file(deployed, stack_env):
    """An operator edited things in the UI: deploy makes the server match prefect.yaml again."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.client.schemas.schedules import CronSchedule

    with get_client(sync_client=True) as client:
        sweep = client.read_deployment_by_name("orphan-cleanup/orphan-cleanup")
        [nightly] = client.read_deployment_schedules(sweep.id)
        client.create_deployment_schedules(
            sweep.id,
            [DeploymentScheduleCreate(schedule=CronSchedule(cron="30 12 * * *"), slug="manual")],
        )
        low = next(q for q in client.read_work_queues(work_pool_name="reelflow") if q.name == "low")
        client.update_work_queue(low.id, priority=1)

    first = reelflow_json(["deploy", "--json"], stack_env)
    changed = {(c["kind"], c["name"], c["action"]) for c in first["changes"]}
    assert ("schedule", "orphan-cleanup/orphan-cleanup#manual", "deleted") in changed
    assert any(kind == "work-queue" and action == "updated" for kind, _, action in changed)

    with get_client(sync_client=True) as client:
        schedules = client.read_deployment_schedules(sweep.id)
        priorities = {
            q.name: q.priority for q in client.read_work_queues(work_pool_name="reelflow")
        }
    assert [(s.id, s.schedule.cron) for s in schedules] == [(nightly.id, "0 3 * * *")]
    assert priorities == {"critical": 1, "default": 2, "low": 3}
    assert reelflow_json(["deploy", "--json"], stack_env)["changed"] == 0


def test_deploy_without_a_prefect_api_fails_clearly(stack_env):
    env = {k: v for k, v in stack_env.items() if k != "PREFECT_API_URL"}
    env["PREFECT_API_URL"] = "http://127.0.0.1:9/api"  # nothing listens on the discard port
    result = reelflow(["deploy"], env, timeout=120)
    assert result.returncode != 0
    assert "does not answer" in result.stderr, result.stderr

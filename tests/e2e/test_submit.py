"""Submit an import through Prefect's queue; a worker process runs it; status reports it."""

from __future__ import annotations

import contextvars
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.e2e import IMPORT_EPISODES as EPISODES
from tests.support.e2e import IMPORT_MOVIE as MOVIE
from tests.support.e2e import ORIGIN_HOST_LIMIT, reelflow, reelflow_json
from tests.support.s3_client import s3_client

pytestmark = pytest.mark.slow


def test_submitted_import_is_run_by_a_worker_to_completion(finished_import, stack_env):
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from reelflow.adapters.db.schema import Asset, Episode
    from reelflow.services import resources

    run = finished_import.run
    assert run.state.is_completed(), (run.state.name, run.state.message)
    assert run.name == f"import-{MOVIE}"
    assert run.work_queue_name == "critical"
    # The run carries the stored manifest's address, not the manifest: no URL, no token.
    from reelflow.core.manifest import manifest_ref, parse_manifest

    ref = manifest_ref(parse_manifest(finished_import.manifest))
    assert run.parameters == {"manifest_ref": ref.model_dump(mode="json")}
    assert ref.movie_id == MOVIE and ref.episodes == EPISODES
    assert "http" not in json.dumps(run.parameters)
    # The worker's logs reach the API, never with a URL's token (?sig=e2e). Per-step lines
    # (with URLs) are DEBUG; test_worker_logs reads failure lines that name their URLs.
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    with get_client(sync_client=True) as client:
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])), limit=200
        )
    text = "\n".join(log.message for log in logs)
    assert "stored (" in text and "sig=" not in text
    with Session(resources.engine()) as session:
        rows = session.execute(
            select(Asset.status, Asset.key).join(Episode).where(Episode.movie_id == MOVIE)
        ).all()
    assert len(rows) == 2 * EPISODES and {status for status, _ in rows} == {"stored"}
    listed = s3_client().list_objects_v2(Bucket=stack_env["S3_BUCKET_NAME"])
    keys = {o["Key"] for o in listed.get("Contents", [])}
    assert {key for _, key in rows} <= keys


def test_double_submit_creates_one_run(finished_import, stack_env):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    from deployments.submit import idempotency_key, submit_import
    from reelflow.core.manifest import parse_manifest

    assert finished_import.first_was_new
    assert finished_import.second_id == finished_import.run_id
    again = reelflow_json(
        ["import", str(finished_import.manifest_path), "--submit", "--json"], stack_env
    )
    assert (again["flow_run_id"], again["new"], again["state"]) == (
        finished_import.run_id,
        False,
        "Completed",
    )
    manifest = parse_manifest(finished_import.manifest)
    assert str(submit_import(manifest)) == finished_import.run_id  # also once it has finished
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["import"]))
        )
        same = [r for r in runs if r.idempotency_key == idempotency_key(manifest)]
        assert [str(r.id) for r in same] == [finished_import.run_id]

        # A changed manifest is a new import: a new run, and two submits racing each other
        # still make one (deleted again afterwards: no worker runs it).
        changed = parse_manifest(finished_import.manifest | {"title": "Ocean Tales (cut)"})
        contexts = [contextvars.copy_context() for _ in range(2)]  # Prefect settings are there
        with ThreadPoolExecutor(2) as pool:
            ids = set(pool.map(lambda ctx: ctx.run(submit_import, changed), contexts))
        assert len(ids) == 1 and str(next(iter(ids))) != finished_import.run_id
        client.delete_flow_run(next(iter(ids)))


def test_status_json_shows_the_run_and_the_assets(finished_import, stack_env):
    status = reelflow_json(["status", "--json"], stack_env)
    prefect = status["prefect"]
    assert "error" not in prefect, prefect
    assert [(q["name"], q["priority"]) for q in prefect["queues"]] == [
        ("critical", 1),
        ("default", 2),
        ("low", 3),
    ]
    for queue in prefect["queues"]:
        assert {"queued", "upcoming", "running", "failed"} <= set(queue)
    runs = {r["id"]: r for r in prefect["recent_runs"]}
    assert runs[finished_import.run_id]["state"] == "Completed"
    assert runs[finished_import.run_id]["queue"] == "critical"
    assert runs[finished_import.run_id]["flow"] == "import-episodes"
    assert runs[finished_import.run_id]["deployment"] == "import"
    assets = status["assets"]
    assert assets["counts"].get("stored", 0) >= 2 * EPISODES


def test_the_per_host_limit_of_an_unannounced_origin_is_created_on_first_use(finished_import):
    """deploy was not told about 127.0.0.1: the first download created its limit."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name("reelflow-origin-127.0.0.1")
    assert (limit.limit, limit.active) == (ORIGIN_HOST_LIMIT, True)
    assert limit.active_slots == 0, "every slot taken was given back"


def test_an_invalid_manifest_is_refused_before_anything_is_submitted(stack_env, deployed, tmp_path):
    from prefect.client.orchestration import get_client

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"movie_id": "no spaces allowed", "episodes": [{"number": -1}]}))
    with get_client(sync_client=True) as client:
        before = client.count_flow_runs()
    result = reelflow(["import", str(bad), "--submit"], stack_env)
    local = reelflow(["import", str(bad)], stack_env)
    assert result.returncode == 2
    assert "invalid manifest" in result.stderr and "movie_id" in result.stderr
    assert result.stderr == local.stderr, "the same error as a local import"
    with get_client(sync_client=True) as client:
        assert client.count_flow_runs() == before

"""Fast checks of the pure parts behind deploy and submit (no server): prefect.yaml as read,
the idempotency key, limit names, and that global limits cost nothing when off."""

from __future__ import annotations

import contextlib

import pytest

from deployments.apply import parse_origin_hosts
from deployments.spec import load_project, parse_project
from deployments.submit import idempotency_key
from reelflow.adapters.slots import origin_host, origin_limit_name, origin_slot, s3_slot
from reelflow.core.errors import ManifestError, SpecError
from reelflow.core.manifest import canonical_json, parse_manifest
from reelflow.settings import Settings
from tests.support.e2e import ROOT


def test_prefect_yaml_declares_every_deployment_with_its_queue_and_schedule():
    project = load_project(ROOT / "prefect.yaml", work_pool="pool-x")
    assert [(q.name, q.priority) for q in project.queues] == [
        ("critical", 1),
        ("default", 2),
        ("low", 3),
    ]
    got = {
        d.name: (d.entrypoint, d.work_queue, [s.cron for s in d.schedules], d.concurrency_limit)
        for d in project.deployments
    }
    assert got == {
        "import": ("flows/import_episodes.py:import_episodes", "critical", [], None),
        "purge": ("flows/purge_objects.py:purge_objects", "critical", [], 1),
        "backfill": ("flows/backfill.py:backfill", "default", [], None),
        "backfill-hourly": ("flows/backfill.py:backfill", "low", ["0 * * * *"], 1),
        "presign-warmup": (
            "flows/presign_warmup.py:presign_warmup",
            "default",
            ["*/20 * * * *"],
            1,
        ),
        "orphan-cleanup": ("flows/orphan_cleanup.py:orphan_cleanup", "low", ["0 3 * * *"], 1),
        "verify": ("flows/verify.py:verify", "low", ["0 2 * * *"], 1),
    }
    nightly_verify = project.deployment("verify")
    assert nightly_verify.parameters == {"execute": True}, "the nightly verify marks"
    sweep = project.deployment("orphan-cleanup")
    assert sweep.parameters == {"execute": True, "force": False}
    assert sweep.schedules[0].timezone == "UTC"
    for d in project.deployments:
        assert d.work_pool == "pool-x", "settings.work_pool replaces the file's pool name"
        assert d.job_variables == {
            "env": {"REELFLOW_GLOBAL_LIMITS": "true", "MALLOC_ARENA_MAX": "2"}
        }
        assert d.pull_steps and d.module.startswith("flows.")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schedule": {"cron": "0 3 * * *"}}, "unsupported keys"),
        ({"schedules": [{"cron": "0 3 * * *"}]}, "needs a slug"),
        ({"schedules": [{"slug": "x", "cron": "* * * * *", "interval": 60}]}, "exactly one"),
        ({"work_pool": {"name": "reelflow", "work_queue_name": "urgent"}}, "not in"),
        ({"concurrency_limit": {"limit": 1, "collision_strategy": "DROP"}}, "collision_strategy"),
    ],
)
def test_a_mistake_in_prefect_yaml_is_an_error_not_silently_ignored(change, message):
    deployment = {
        "name": "x",
        "entrypoint": "flows/x.py:x",
        "work_pool": {"name": "reelflow", "work_queue_name": "low"},
    }
    data = {
        "definitions": {"work_queues": [{"name": "low", "priority": 1}]},
        "deployments": [deployment | change],
    }
    with pytest.raises(SpecError, match=message):
        parse_project(data)


def test_the_idempotency_key_ignores_formatting_but_not_content():
    data = {
        "movie_id": "m1",
        "episodes": [{"number": 1, "thumbnail_url": "https://cdn.example/1.jpg?t=a"}],
    }
    reordered = {  # other key order, a default spelled out: the same manifest
        "episodes": [{"thumbnail_url": "https://cdn.example/1.jpg?t=a", "number": 1}],
        "movie_id": "m1",
        "title": "",
    }
    key = idempotency_key(parse_manifest(data))
    assert key.startswith("import:m1:") and len(key) == len("import:m1:") + 64
    assert idempotency_key(parse_manifest(reordered)) == key
    spaced = {**data, "episodes": [{"number": 1, "thumbnail_url": " https://cdn.example/1.jpg"}]}
    with pytest.raises(ManifestError):  # values are never trimmed: this is not the same URL
        parse_manifest(spaced)
    rotated = {
        **data,
        "episodes": [{"number": 1, "thumbnail_url": "https://cdn.example/1.jpg?t=b"}],
    }
    assert idempotency_key(parse_manifest(rotated)) != key
    assert '"movie_id":"m1"' in canonical_json(parse_manifest(data))


def test_origin_limits_are_named_by_normalised_host():
    assert origin_host("https://CDN.Example.COM.:8443/a.jpg?token=x") == "cdn.example.com"
    assert origin_limit_name("cdn.example.com") == "reelflow-origin-cdn.example.com"
    assert origin_host("ftp://cdn.example.com/a") is None  # refused by the fetcher anyway
    assert parse_origin_hosts(["CDN.example.com", "b.example=16"], 8) == {
        "cdn.example.com": None,
        "b.example": 16,
    }
    with pytest.raises(SpecError):
        parse_origin_hosts(["https://cdn.example.com/"], 8)


def test_global_limits_off_take_no_slot_and_make_no_api_call():
    """Off (local runs), a slot is a nullcontext: no Prefect client is ever built."""
    settings = Settings(REELFLOW_GLOBAL_LIMITS=False)
    for slot in (origin_slot("https://cdn.example.com/a.jpg", settings), s3_slot(settings, 4)):
        assert isinstance(slot, contextlib.nullcontext)
        with slot:
            pass

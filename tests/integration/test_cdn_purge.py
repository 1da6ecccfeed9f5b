"""CDN purges against moto's CloudFront (over HTTP): a deleted movie's objects are
invalidated in one batch under a reference derived from its paths; a CDN failure never fails
the delete and is retried by the next purge run; a ready-made preview replaced under its key
is invalidated; busy answers are retried."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber
from sqlalchemy import select

from reelflow.adapters.cdn import CloudFrontPurger
from reelflow.adapters.db.schema import CdnPurgeItem
from reelflow.core.cdn import caller_reference, cdn_path
from reelflow.core.errors import CdnUnavailable
from reelflow.devtools.origin import Origin
from reelflow.services import resources
from reelflow.settings import reset_settings
from tests.support.movies import db_state, objects, run_import, serve_movie

pytestmark = pytest.mark.usefixtures("prefect_server")


def cloudfront(env):
    return boto3.client(
        "cloudfront",
        endpoint_url=env["S3_ENDPOINT"],
        aws_access_key_id="test-access",
        aws_secret_access_key="test-secret",
        region_name="us-east-1",
    )


@pytest.fixture()
def distribution(env, monkeypatch):
    client = cloudfront(env)
    config = {
        "CallerReference": f"dist-{env['S3_BUCKET_NAME']}",
        "Origins": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": "s3",
                    "DomainName": f"{env['S3_BUCKET_NAME']}.s3.amazonaws.com",
                    "S3OriginConfig": {"OriginAccessIdentity": ""},
                }
            ],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": "s3",
            "ViewerProtocolPolicy": "redirect-to-https",
            "MinTTL": 0,
            "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
            "TrustedSigners": {"Enabled": False, "Quantity": 0},
        },
        "Comment": "reelflow test",
        "Enabled": True,
    }
    dist_id = client.create_distribution(DistributionConfig=config)["Distribution"]["Id"]
    monkeypatch.setenv("CLOUDFRONT_DISTRIBUTION_ID", dist_id)
    monkeypatch.setenv("REELFLOW_CLOUDFRONT_ENDPOINT", env["S3_ENDPOINT"])
    reset_settings()
    return client, dist_id


def invalidated_paths(client, dist_id) -> list[tuple[str, list[str]]]:
    found = []
    listed = client.list_invalidations(DistributionId=dist_id)["InvalidationList"]
    for item in listed.get("Items", []):
        batch = client.get_invalidation(DistributionId=dist_id, Id=item["Id"])["Invalidation"]
        batch = batch["InvalidationBatch"]
        found.append((batch["CallerReference"], sorted(batch["Paths"]["Items"])))
    return found


def owed() -> list[CdnPurgeItem]:
    with resources.engine().connect() as conn:
        return list(conn.execute(select(CdnPurgeItem)).all())


def test_a_deleted_movie_is_invalidated_in_one_batch(env, distribution):
    from deployments.launch import PrefectPurgeLauncher
    from reelflow.services.movies import delete_movie

    client, dist_id = distribution
    with Origin() as origin:
        run_import(serve_movie(origin, "mv-cdn", 2))
    keys = sorted(k for k in objects() if "/mv-cdn/" in k)
    assert len(keys) == 8
    result = delete_movie("mv-cdn", launcher=PrefectPurgeLauncher(), wait=True)
    assert result.purge is not None and result.purge.deleted == 8
    paths = sorted(cdn_path(k) for k in keys)
    assert invalidated_paths(client, dist_id) == [(caller_reference(paths), paths)]
    assert owed() == []


def test_a_cdn_failure_never_fails_the_delete_and_is_retried(env, distribution, monkeypatch):
    from deployments.launch import PrefectPurgeLauncher
    from flows.purge_objects import purge_objects
    from reelflow.services.movies import delete_movie

    client, dist_id = distribution
    monkeypatch.setenv("CLOUDFRONT_DISTRIBUTION_ID", "NOSUCHDIST")
    reset_settings()
    with Origin() as origin:
        run_import(serve_movie(origin, "mv-cdn-down", 1))
    result = delete_movie("mv-cdn-down", launcher=PrefectPurgeLauncher(), wait=True)
    assert result.purge is not None and result.purge.ok and result.purge.deleted == 4
    assert not [k for k in objects() if "/mv-cdn-down/" in k], "the objects are gone anyway"
    rows = owed()
    assert len(rows) == 4 and {r.attempts for r in rows} == {1}
    assert all("NoSuchDistribution" in r.last_error for r in rows)

    monkeypatch.setenv("CLOUDFRONT_DISTRIBUTION_ID", dist_id)
    reset_settings()
    state = purge_objects(return_state=True)
    assert state.is_completed()
    assert owed() == [] and len(invalidated_paths(client, dist_id)) == 1


def test_a_ready_made_preview_replaced_under_its_key_is_invalidated(env, distribution):
    client, dist_id = distribution
    with Origin() as origin:
        run_import(serve_movie(origin, "mv-cdn-re", 1))
        _, assets = db_state("mv-cdn-re")
        key = assets[(1, "preview")].key
        assert key == "episode-previews/mv-cdn-re/ep1_preview.webm"
        assert invalidated_paths(client, dist_id) == [], "a first upload needs no purge"
        run_import(serve_movie(origin, "mv-cdn-re", 1, seed=7))  # new bytes, same key
    assert invalidated_paths(client, dist_id) == [
        (caller_reference([cdn_path(key)]), [cdn_path(key)])
    ], "the versioned thumbnail rungs got new keys: only the preview is purged"
    assert owed() == []


def test_busy_answers_are_retried_and_a_retry_keeps_its_reference():
    client = boto3.client(
        "cloudfront", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    stub = Stubber(client)
    paths = ["/a", "/b"]
    expected = {
        "DistributionId": "D1",
        "InvalidationBatch": {
            "Paths": {"Quantity": 2, "Items": paths},
            "CallerReference": caller_reference(paths),
        },
    }
    for _ in range(2):
        stub.add_client_error(
            "create_invalidation", "TooManyInvalidationsInProgress", expected_params=expected
        )
    stub.add_response(
        "create_invalidation",
        {
            "Location": "x",
            "Invalidation": {
                "Id": "I1",
                "Status": "InProgress",
                "CreateTime": "2026-12-03T00:00:00Z",
                "InvalidationBatch": expected["InvalidationBatch"],
            },
        },
        expected,
    )
    waits: list[float] = []
    with stub:
        purger = CloudFrontPurger(client, "D1", sleep=waits.append)
        assert purger.purge(paths, caller_reference(paths)) == "I1"
    assert len(waits) == 2 and all(w >= 0 for w in waits)

    stub = Stubber(client)
    for _ in range(3):
        stub.add_client_error("create_invalidation", "TooManyInvalidationsInProgress")
    with stub, pytest.raises(CdnUnavailable, match="TooManyInvalidationsInProgress"):
        CloudFrontPurger(client, "D1", attempts=3, sleep=lambda s: None).purge(paths, "r")

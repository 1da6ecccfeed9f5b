"""Task: prove an already-recorded object is still in S3 with the recorded sha256 (one HEAD)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NONE

from reelflow import resources, s3
from reelflow.models import AssetJob


@task(name="verify-stored", cache_policy=NONE)
def verify_stored(job: AssetJob) -> bool:
    """True when S3 holds job.known_key with sha256 == job.known_sha256: nothing to do."""
    if not (job.known_bucket and job.known_key and job.known_sha256):
        return False
    found = s3.head_sha256(resources.s3_client(), job.known_bucket, job.known_key)
    return found == job.known_sha256

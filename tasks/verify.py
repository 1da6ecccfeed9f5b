"""Task: prove already-recorded objects are still in S3 with the recorded sha256 (HEADs)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from prefect import task
from prefect.cache_policies import NONE

from reelflow import resources, s3
from reelflow.models import AssetJob


def _verified(job: AssetJob) -> bool:
    if not (job.known_bucket and job.known_key and job.known_sha256):
        return False
    found = s3.head_sha256(resources.s3_client(), job.known_bucket, job.known_key)
    return found == job.known_sha256


@task(name="verify-stored", cache_policy=NONE, retries=2, retry_delay_seconds=1)
def verify_stored(jobs: list[AssetJob]) -> list[bool]:
    """For each job: True when S3 holds its known key with the known sha256 (nothing to do).

    One task run per batch, HEADs issued concurrently: re-running a 1,000-episode import costs
    a few task runs, not two thousand.
    """
    if not jobs:
        return []
    with ThreadPoolExecutor(max_workers=min(16, len(jobs))) as pool:
        return list(pool.map(_verified, jobs))

"""Task: write the movie and all its episodes with their temporary URLs (the 'instant' step)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NONE

from reelflow import repository, resources
from reelflow.manifest import Manifest
from reelflow.models import AssetJob


@task(name="upsert-episodes", cache_policy=NONE, retries=2, retry_delay_seconds=1)
def upsert_episodes(manifest: Manifest) -> list[AssetJob]:
    """One transaction for the whole manifest; returns the assets to import."""
    return repository.upsert_manifest(resources.engine(), manifest)

"""Task: write the movie and all its episodes with their temporary URLs (the 'instant' step)."""

from __future__ import annotations

from reelflow.adapters.db import imports
from reelflow.core.manifest import Manifest
from reelflow.core.models import AssetJob
from reelflow.services import resources
from tasks.retry import io_task


@io_task("upsert-episodes")
def upsert_episodes(manifest: Manifest) -> list[AssetJob]:
    """One transaction for the whole manifest; returns the assets to import."""
    return imports.upsert_manifest(resources.engine(), manifest)

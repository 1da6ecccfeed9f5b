"""Tasks: load a stored manifest; write the movie and all its episodes with their temporary
URLs (the 'instant' step)."""

from __future__ import annotations

from reelflow.adapters.db import imports, manifests
from reelflow.core.manifest import Manifest, ManifestRef
from reelflow.core.models import AssetJob
from reelflow.services import resources
from reelflow.settings import get_settings
from tasks.retry import io_task


@io_task("load-manifest", task_run_name="load-manifest-{ref.movie_id}")
def load_manifest(ref: ManifestRef) -> Manifest:
    """The manifest the submit step stored under `ref` (reelflow.adapters.db.manifests)."""
    return manifests.load_manifest(resources.engine(), ref)


@io_task("upsert-episodes")
def upsert_episodes(manifest: Manifest) -> list[AssetJob]:
    """One transaction for the whole manifest; returns the assets to import."""
    settings = get_settings()
    return imports.upsert_manifest(
        resources.engine(),
        manifest,
        ladder=settings.image_ladder(),
        preview=settings.preview_spec(),
    )

"""Stash a manifest for a flow run: every way of starting an import (the CLI, submit, the demo,
the benchmarks) stores the manifest first and hands the flow its ManifestRef."""

from __future__ import annotations

from reelflow.adapters.db import manifests, migrate
from reelflow.core.errors import SchemaOutdated
from reelflow.core.manifest import Manifest, ManifestRef
from reelflow.services import resources

__all__ = ["stash_manifest"]


def stash_manifest(manifest: Manifest) -> ManifestRef:
    """Store `manifest` in the database (idempotent) and return the reference a flow takes.
    SchemaOutdated when the database is not migrated (it would have no `manifests` table)."""
    engine = resources.engine()
    if migrate.current_revision(engine) != migrate.head_revision():
        raise SchemaOutdated(
            "the database schema is not up to date: run `reelflow db upgrade` first"
        )
    return manifests.save_manifest(engine, manifest)

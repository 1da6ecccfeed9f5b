"""Stash a manifest for a flow run: every way of starting an import (the CLI, submit, the demo,
the benchmarks) stores the manifest first and hands the flow its ManifestRef."""

from __future__ import annotations

from reelflow.adapters.db import manifests
from reelflow.core.manifest import Manifest, ManifestRef
from reelflow.services import resources, schema

__all__ = ["stash_manifest"]


def stash_manifest(manifest: Manifest) -> ManifestRef:
    """Store `manifest` in the database (idempotent) and return the reference a flow takes.
    SchemaOutdated when the database is not migrated (it would have no `manifests` table)."""
    schema.require_current()
    return manifests.save_manifest(resources.engine(), manifest)

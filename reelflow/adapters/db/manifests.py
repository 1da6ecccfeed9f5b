"""Stored manifests: the submit step saves a manifest under its sha256, a flow run loads it.

A flow run's parameter is the ManifestRef (~150 bytes), so any manifest the validator accepts
fits Prefect's 512 KB parameter limit, and the temporary URLs' tokens stay in our database
instead of Prefect's. Saving is idempotent: the same manifest is stored once.
"""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import select
from sqlalchemy.engine import Engine

from reelflow.adapters.db.engine import db_errors, insert_for
from reelflow.adapters.db.schema import StoredManifest, utcnow
from reelflow.core.errors import ManifestNotFound
from reelflow.core.manifest import (
    Manifest,
    ManifestRef,
    canonical_json,
    manifest_ref,
    parse_manifest,
)

__all__ = ["load_manifest", "save_manifest"]


@db_errors
def save_manifest(engine: Engine, manifest: Manifest) -> ManifestRef:
    """Store `manifest` (once, whoever saves it first) and return its reference."""
    body = canonical_json(manifest)
    ref = manifest_ref(manifest, body)
    with engine.begin() as conn:
        ins = insert_for(conn, StoredManifest.__table__).values(
            sha256=ref.sha256,
            movie_id=ref.movie_id,
            episodes=ref.episodes,
            body=body,
            created_at=utcnow(),
        )
        conn.execute(ins.on_conflict_do_nothing(index_elements=["sha256"]))
    return ref


@db_errors
def load_manifest(engine: Engine, ref: ManifestRef) -> Manifest:
    """The stored manifest `ref` names, checked against its digest."""
    with engine.connect() as conn:
        body = conn.scalar(select(StoredManifest.body).where(StoredManifest.sha256 == ref.sha256))
    if body is None:
        raise ManifestNotFound(
            f"no stored manifest {ref.sha256[:12]} (movie {ref.movie_id}): submit the manifest "
            "again (`reelflow import MANIFEST.json --submit`)"
        )
    if hashlib.sha256(body.encode("utf-8")).hexdigest() != ref.sha256:
        raise ManifestNotFound(f"stored manifest {ref.sha256[:12]} does not match its digest")
    manifest = parse_manifest(json.loads(body))
    if manifest.movie_id != ref.movie_id:
        raise ManifestNotFound(
            f"stored manifest {ref.sha256[:12]} is of movie {manifest.movie_id}, not {ref.movie_id}"
        )
    return manifest

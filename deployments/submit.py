"""Submit an import to the `import` deployment and return at once: Prefect's queue holds it.

The manifest is stored first, in our database under the sha256 of its canonical JSON
(reelflow.adapters.db.manifests); the run's only parameter is that reference. So a manifest of
any size the validator accepts fits Prefect's 512 KB parameter limit, and the temporary URLs'
tokens never reach Prefect's database, its UI or its error responses.

The run is created through the Prefect API (`run_deployment(..., timeout=0)`) and waits in the
work pool's `critical` queue, stored in Prefect's database, until a worker takes it; it
survives a restart of the server, of the workers and of the caller.

Idempotency: the key is the movie id plus the sha256 of the manifest's canonical JSON (the
validated manifest, keys sorted), and Prefect keeps one run per deployment and key. Submitting
the same manifest twice (a double click, a client retry after a timeout) returns the first
run instead of creating another. Submitting a changed manifest (new URLs, new episodes)
creates a new run. To run an identical manifest again, retry its run in the UI.

One exception: once that run has ended and the movie has since been deleted
(`DELETE /api/v1/movies/{id}`, `reelflow delete-movie`), the same manifest imports it again.
The new run's key is the old key plus `:after:<the ended run's id>`, so the chain is
deterministic: two clients re-submitting at once still get one run, and a later submit
follows the chain to its newest run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterIdempotencyKey
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound

from reelflow.core.errors import ConfigurationError, PrefectUnavailable
from reelflow.core.manifest import Manifest, manifest_ref
from reelflow.services.manifests import stash_manifest

__all__ = [
    "IMPORT_DEPLOYMENT",
    "Submitted",
    "idempotency_key",
    "submit_import",
    "submit_run",
]

IMPORT_DEPLOYMENT = "import-episodes/import"


def idempotency_key(manifest: Manifest) -> str:
    return f"import:{manifest.movie_id}:{manifest_ref(manifest).sha256}"


@dataclass(frozen=True)
class Submitted:
    run: Any  # prefect FlowRun
    new: bool  # False: this manifest had been submitted before; `run` is that run


def _earlier_run(key: str) -> Any | None:
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(idempotency_key=FlowRunFilterIdempotencyKey(any_=[key])),
            limit=1,
        )
    return runs[0] if runs else None


_ENDED = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}


def _current_key(manifest: Manifest) -> tuple[str, Any | None]:
    """The key a submit of `manifest` uses now, and the run that already has it (or None):
    the newest run of the chain, or its successor's key when that run ended and the movie was
    deleted since."""
    from reelflow.adapters.db import catalog
    from reelflow.services import resources

    key = idempotency_key(manifest)
    earlier = _earlier_run(key)
    for _ in range(1000):
        if earlier is None:
            return key, None
        later = _earlier_run(f"{key}:after:{earlier.id}")
        if later is not None:
            key, earlier = f"{key}:after:{earlier.id}", later
            continue
        state = earlier.state.type.value if earlier.state else None
        if state in _ENDED and not catalog.movie_exists(resources.engine(), manifest.movie_id):
            return f"{key}:after:{earlier.id}", None
        return key, earlier
    return key, earlier


def submit_run(manifest: Manifest, *, work_queue_name: str | None = None) -> Submitted:
    """Create (or find) the import run for this manifest."""
    try:
        key, earlier = _current_key(manifest)  # the key is what dedups, in Prefect
    except httpx.TransportError as exc:
        raise PrefectUnavailable(f"the Prefect API does not answer: {exc}") from None
    ref = stash_manifest(manifest)  # before the run exists: a worker may take it at once
    try:
        run: Any = run_deployment(
            IMPORT_DEPLOYMENT,
            parameters={"manifest_ref": ref.model_dump(mode="json")},
            flow_run_name=f"import-{manifest.movie_id}",
            timeout=0,
            idempotency_key=key,
            work_queue_name=work_queue_name,
            tags=["reelflow", "import", f"movie:{manifest.movie_id}"],
            as_subflow=False,
        )
    except ObjectNotFound:
        raise ConfigurationError(
            f"the Prefect deployment {IMPORT_DEPLOYMENT!r} does not exist: run `reelflow deploy`"
        ) from None
    except httpx.TransportError as exc:
        raise PrefectUnavailable(f"the Prefect API does not answer: {exc}") from None
    return Submitted(run=run, new=earlier is None or earlier.id != run.id)


def submit_import(manifest: Manifest, *, work_queue_name: str | None = None) -> UUID:
    """Queue an import of `manifest` for a worker and return the flow run's id at once.

    `work_queue_name` overrides the deployment's queue (`critical`), e.g. `low` for bulk loads.
    PREFECT_API_URL must point at the server the workers poll.
    """
    return UUID(str(submit_run(manifest, work_queue_name=work_queue_name).run.id))

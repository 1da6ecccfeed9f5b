"""Object storage behind one port (base.ObjectStore); `make_store` picks the implementation.

    s3     reelflow.adapters.storage.s3.S3Store      S3 or any S3-compatible endpoint (default)
    disk   reelflow.adapters.storage.disk.DiskStore  a folder on one machine; `reelflow serve`
                                                     answers its signed URLs under /files/

Only this package talks to an object store: tasks, services, flows and the API hold an
ObjectStore and nothing else (`make lint` keeps boto3's S3 calls in here). A third store (GCS,
Azure Blob) is one more module with the same methods and one more branch below.
"""

from __future__ import annotations

import sys
import threading

from reelflow.adapters.storage.base import (
    MAX_DELETE_BATCH,
    MAX_LIST_PAGE,
    DeleteOutcome,
    KeyFailure,
    ObjectInfo,
    ObjectPage,
    ObjectStore,
    list_range,
)
from reelflow.settings import Settings

__all__ = [
    "MAX_DELETE_BATCH",
    "MAX_LIST_PAGE",
    "DeleteOutcome",
    "KeyFailure",
    "ObjectInfo",
    "ObjectPage",
    "ObjectStore",
    "forget_stores",
    "list_range",
    "make_store",
]

_stores: dict[tuple[object, ...], ObjectStore] = {}
_lock = threading.Lock()


def _identity(settings: Settings) -> tuple[object, ...]:
    """What a store is built from: equal settings share one store (and its client pool)."""
    if settings.storage == "disk":
        secret = settings.disk_url_secret
        return (
            "disk",
            str(settings.disk_root),  # no resolve(): this runs on every store() call
            settings.disk_url_base or f"http://{settings.api_host}:{settings.api_port}",
            secret.get_secret_value() if secret else None,
        )
    return (
        "s3",
        settings.s3_endpoint,
        settings.s3_region,
        *settings.s3_credentials(),
        settings.s3_connect_timeout,
        settings.s3_read_timeout,
        settings.import_concurrency,
        settings.multipart_threshold,
        settings.multipart_chunksize,
    )


def make_store(settings: Settings) -> ObjectStore:
    """The object store the settings name (REELFLOW_STORAGE), built on first use and shared:
    every store is thread-safe. Nothing connects until the first call."""
    key = _identity(settings)
    with _lock:
        store = _stores.get(key)
        if store is None:
            if settings.storage == "disk":
                from reelflow.adapters.storage.disk import DiskStore

                store = DiskStore.from_settings(settings)
            else:
                from reelflow.adapters.storage.s3 import S3Store

                store = S3Store.from_settings(settings)
            _stores[key] = store
        return store


def forget_stores() -> None:
    """Drop the shared stores (reelflow.services.state.reset); the next use builds anew."""
    with _lock:
        _stores.clear()
    s3 = sys.modules.get("reelflow.adapters.storage.s3_client")  # loaded only if S3 was used
    if s3 is not None:
        s3.forget_clients()

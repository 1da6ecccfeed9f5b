"""The object-store port: what reelflow asks of wherever its objects live.

    class ObjectStore(Protocol):
        name: str                                            # "s3", "disk"
        def ensure_bucket(bucket) -> bool                    # create (private) if missing
        def probe(bucket) -> None                            # answers, or StorageUnavailable
        def head(bucket, key) -> ObjectInfo | None           # size and recorded sha256
        def put_file(bucket, key, path, *, content_type, cache_control, sha256) -> None
        def put_slots(size) -> int                           # requests one put keeps in flight
        def get_to(bucket, key, dest, *, max_bytes) -> (bytes, sha256 hex)
        def list_page(bucket, prefix, token=None, max_keys=1000, *, start_after=None)
            -> ObjectPage                                    # bytewise key order
        def delete(bucket, keys) -> DeleteOutcome            # <= 1000 keys; missing = deleted
        def signed_urls(bucket, keys, *, expires, now) -> (URLs, signed-at epoch second)

Every implementation raises reelflow's own errors: StorageUnavailable (transient: the task's
retry policy tries again), StorageRejected and MissingCredentials (terminal). Deletes check every
key with keys.check_managed_key before anything is removed. Objects are private: a signed URL
is the only way to read one without credentials.

`tests/integration/test_object_store.py` holds the one contract suite every store passes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from reelflow.core.sweep import ListedObject

__all__ = [
    "MAX_DELETE_BATCH",
    "MAX_LIST_PAGE",
    "TRANSIENT_KEY_CODES",
    "DeleteOutcome",
    "KeyFailure",
    "ObjectInfo",
    "ObjectPage",
    "ObjectStore",
    "list_range",
]

MAX_DELETE_BATCH = 1000  # S3's limit for one DeleteObjects request; every store keeps it
MAX_LIST_PAGE = 1000  # S3 never returns more per ListObjectsV2 page

# Per-key delete error codes worth another attempt.
TRANSIENT_KEY_CODES = frozenset(
    {"InternalError", "SlowDown", "ServiceUnavailable", "RequestTimeout", "OperationAborted"}
)


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    sha256: str | None  # the sha256 recorded when reelflow stored it; None if none was


@dataclass(frozen=True)
class ObjectPage:
    """One listing page. A wrapper (not a bare list) so Prefect tracks one result, not 1000."""

    prefix: str
    objects: tuple[ListedObject, ...]
    next_token: str | None

    @property
    def keys(self) -> list[str]:
        return [obj.key for obj in self.objects]


@dataclass(frozen=True)
class KeyFailure:
    key: str
    code: str
    message: str

    @property
    def transient(self) -> bool:
        return self.code in TRANSIENT_KEY_CODES

    def describe(self) -> str:
        return f"{self.code}: {self.message}" if self.message else self.code


@dataclass(frozen=True)
class DeleteOutcome:
    bucket: str
    deleted: tuple[str, ...]
    failures: tuple[KeyFailure, ...]


class ObjectStore(Protocol):
    name: str

    def ensure_bucket(self, bucket: str) -> bool: ...

    def probe(self, bucket: str) -> None: ...

    def head(self, bucket: str, key: str) -> ObjectInfo | None: ...

    def put_file(
        self,
        bucket: str,
        key: str,
        path: str,
        *,
        content_type: str,
        cache_control: str,
        sha256: str,
    ) -> None: ...

    def put_slots(self, size: int) -> int: ...

    def get_to(
        self, bucket: str, key: str, dest: BinaryIO, *, max_bytes: int
    ) -> tuple[int, str]: ...

    def list_page(
        self,
        bucket: str,
        prefix: str,
        token: str | None = None,
        max_keys: int = MAX_LIST_PAGE,
        *,
        start_after: str | None = None,
    ) -> ObjectPage: ...

    def delete(self, bucket: str, keys: Sequence[str]) -> DeleteOutcome: ...

    def signed_urls(
        self, bucket: str, keys: Sequence[str], *, expires: int, now: float
    ) -> tuple[list[str], int]: ...


def list_range(
    store: ObjectStore, bucket: str, first: str, last: str
) -> tuple[dict[str, int], int]:
    """Every object whose key lies in [first, last] (bytewise order): ({key: size}, listing
    requests made). One page lists up to 1000 objects with their sizes, where a head costs one
    request per object; the listing starts right before `first` and stops at the first key
    past `last`."""
    sizes: dict[str, int] = {}
    requests = 0
    token: str | None = None
    # The longest common prefix narrows the listing; starting after a proper prefix of `first`
    # (which sorts before it) starts at `first` or just before it.
    common = os.path.commonprefix([first, last])
    while True:
        page = store.list_page(bucket, common, token, start_after=first[:-1])
        requests += 1
        for obj in page.objects:
            if obj.key > last:
                return sizes, requests
            if obj.key >= first:
                sizes[obj.key] = obj.size
        token = page.next_token
        if token is None:
            return sizes, requests

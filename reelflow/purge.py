"""The S3 side of cleanup: list one page of objects, delete one batch. Errors are translated
like the rest of reelflow.s3 (StorageUnavailable: retry; StorageRejected: terminal).

`delete_keys` checks every key with keys.check_managed_key before anything is sent: no code
path in reelflow can ask S3 to delete an object outside the managed prefixes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reelflow.cleanup import ListedObject
from reelflow.keys import check_managed_key
from reelflow.s3 import storage_errors

__all__ = [
    "MAX_DELETE_BATCH",
    "DeleteOutcome",
    "KeyFailure",
    "ObjectPage",
    "delete_keys",
    "list_page",
]

MAX_DELETE_BATCH = 1000  # S3's limit for one DeleteObjects request
MAX_LIST_PAGE = 1000  # S3 never returns more per ListObjectsV2 page

# Per-key DeleteObjects error codes worth another attempt.
TRANSIENT_KEY_CODES = frozenset(
    {"InternalError", "SlowDown", "ServiceUnavailable", "RequestTimeout", "OperationAborted"}
)


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


def list_page(
    client: Any, bucket: str, prefix: str, token: str | None = None, max_keys: int = MAX_LIST_PAGE
) -> ObjectPage:
    """One page (up to 1000 objects) under prefix, continuing from `token`."""
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": max_keys}
    if token:
        kwargs["ContinuationToken"] = token
    with storage_errors(f"list {bucket}/{prefix}"):
        response = client.list_objects_v2(**kwargs)
    objects = tuple(
        ListedObject(
            key=item["Key"], size=int(item.get("Size", 0)), last_modified=item["LastModified"]
        )
        for item in response.get("Contents", ())
    )
    next_token = response.get("NextContinuationToken") if response.get("IsTruncated") else None
    return ObjectPage(prefix=prefix, objects=objects, next_token=next_token)


def delete_keys(client: Any, bucket: str, keys: Sequence[str]) -> DeleteOutcome:
    """Delete up to 1000 managed keys with one DeleteObjects request.

    Keys S3 reports in `Errors` are returned as failures; every other key is deleted (S3
    reports a key that did not exist as deleted too, which is what a purge wants). A failure
    of the whole request raises StorageUnavailable or StorageRejected.
    """
    if len(keys) > MAX_DELETE_BATCH:
        raise ValueError(f"at most {MAX_DELETE_BATCH} keys per request, not {len(keys)}")
    if not keys:
        return DeleteOutcome(bucket=bucket, deleted=(), failures=())
    for key in keys:
        check_managed_key(key)  # the last line of defence: raises InvalidKey
    with storage_errors(f"delete {len(keys)} objects from {bucket}"):
        response = client.delete_objects(
            Bucket=bucket,
            Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True},
        )
    failures = tuple(
        KeyFailure(
            key=str(error.get("Key", "")),
            code=str(error.get("Code", "Unknown")),
            message=str(error.get("Message", "")),
        )
        for error in response.get("Errors", ())
    )
    failed = {failure.key for failure in failures}
    return DeleteOutcome(
        bucket=bucket, deleted=tuple(k for k in keys if k not in failed), failures=failures
    )

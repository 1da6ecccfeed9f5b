"""S3Store: the object-store port (reelflow.adapters.storage.base) over S3 or any S3-compatible
endpoint, with boto3's errors translated (StorageUnavailable: retry; StorageRejected,
MissingCredentials: terminal).

`delete` checks every key with keys.check_managed_key before anything is sent: no code path in
reelflow can ask S3 to delete an object outside the managed prefixes.

botocore's own retries are switched off (total_max_attempts=1): Prefect task retries are the
one retry owner for transient storage errors, so attempts do not multiply.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from typing import Any, BinaryIO

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from reelflow.adapters.storage.base import (
    MAX_DELETE_BATCH,
    MAX_LIST_PAGE,
    DeleteOutcome,
    KeyFailure,
    ObjectInfo,
    ObjectPage,
)
from reelflow.adapters.storage.s3_client import (
    MULTIPART_CONCURRENCY,
    client_error_code,
    make_s3_client,
    storage_errors,
)
from reelflow.adapters.storage.s3_presign import Presigner
from reelflow.core.errors import StorageRejected, TooLarge
from reelflow.core.keys import check_managed_key
from reelflow.core.sweep import ListedObject
from reelflow.settings import Settings

__all__ = ["S3Store"]


def _missing(exc: ClientError) -> bool:
    return (client_error_code(exc) or ("", 0))[1] == 404


class S3Store:
    """The ObjectStore port over one S3 endpoint. Thread-safe; nothing connects until used."""

    name = "s3"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._presigner: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Store:
        return cls(settings)

    @property
    def client(self) -> Any:
        return make_s3_client(self._settings)

    # -- buckets -----------------------------------------------------------------------------
    def ensure_bucket(self, bucket: str) -> bool:
        """Create the bucket if missing, with all public access blocked. True if created."""
        client = self.client
        with storage_errors(f"head bucket {bucket}"):
            try:
                client.head_bucket(Bucket=bucket)
                return False
            except ClientError as exc:
                if client_error_code(exc) not in {("404", 404), ("NoSuchBucket", 404)}:
                    raise
            client.create_bucket(Bucket=bucket)
            client.put_public_access_block(
                Bucket=bucket,
                PublicAccessBlockConfiguration={
                    "BlockPublicAcls": True,
                    "IgnorePublicAcls": True,
                    "BlockPublicPolicy": True,
                    "RestrictPublicBuckets": True,
                },
            )
            return True

    def probe(self, bucket: str) -> None:
        """One HEAD of the bucket: returns when S3 answers, raises StorageUnavailable when not."""
        with storage_errors(f"head bucket {bucket}"):
            self.client.head_bucket(Bucket=bucket)

    # -- objects -----------------------------------------------------------------------------
    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        """Size and recorded sha256 of the object, or None if it does not exist."""
        with storage_errors(f"head {key}"):
            try:
                response = self.client.head_object(Bucket=bucket, Key=key)
            except ClientError as exc:
                if _missing(exc):
                    return None
                raise
        value = response.get("Metadata", {}).get("sha256")
        return ObjectInfo(
            size=int(response.get("ContentLength", 0)), sha256=str(value) if value else None
        )

    def put_slots(self, size: int) -> int:
        """Requests one put keeps in flight: a multipart upload sends several parts at once."""
        return MULTIPART_CONCURRENCY if size >= self._settings.multipart_threshold else 1

    def put_file(
        self,
        bucket: str,
        key: str,
        path: str,
        *,
        content_type: str,
        cache_control: str,
        sha256: str,
    ) -> None:
        """Upload a local file: one PUT below the threshold, multipart (bounded memory) above.

        Objects are private (no ACL is granted). The sha256 goes into the object's metadata so
        a re-run can prove an object is already the right one without downloading it."""
        extra = {
            "ContentType": content_type,
            "CacheControl": cache_control,
            "Metadata": {"sha256": sha256},
        }
        with storage_errors(f"upload {key}"):
            if os.path.getsize(path) < self._settings.multipart_threshold:
                # One PUT from the open file: upload_file would start a transfer manager and
                # its threads for each call, most of the cost of a small object.
                with open(path, "rb") as body:
                    self.client.put_object(Bucket=bucket, Key=key, Body=body, **extra)
                return
            config = TransferConfig(
                multipart_threshold=self._settings.multipart_threshold,
                multipart_chunksize=self._settings.multipart_chunksize,
                max_concurrency=MULTIPART_CONCURRENCY,
                use_threads=True,
            )
            self.client.upload_file(path, bucket, key, ExtraArgs=extra, Config=config)

    def get_to(self, bucket: str, key: str, dest: BinaryIO, *, max_bytes: int) -> tuple[int, str]:
        """Stream an object into `dest`; (bytes, sha256 hex). A missing object is StorageRejected
        (terminal: it will not come back by retrying); a body over max_bytes is TooLarge."""
        digest = hashlib.sha256()
        size = 0
        with storage_errors(f"download {key}"):
            try:
                response = self.client.get_object(Bucket=bucket, Key=key)
            except ClientError as exc:
                if _missing(exc):
                    raise StorageRejected(f"s3://{bucket}/{key} is not in S3 any more") from None
                raise
            body = response["Body"]
            try:
                for chunk in body.iter_chunks(1 << 20):
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLarge(f"s3://{bucket}/{key} is over {max_bytes} bytes")
                    digest.update(chunk)
                    dest.write(chunk)
            finally:
                body.close()
        return size, digest.hexdigest()

    # -- listing and deleting ----------------------------------------------------------------
    def list_page(
        self,
        bucket: str,
        prefix: str,
        token: str | None = None,
        max_keys: int = MAX_LIST_PAGE,
        *,
        start_after: str | None = None,
    ) -> ObjectPage:
        """One ListObjectsV2 page (up to 1000 objects) under prefix, continuing from `token`
        (or, for the first page, from after `start_after`)."""
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": max_keys}
        if token:
            kwargs["ContinuationToken"] = token
        elif start_after:
            kwargs["StartAfter"] = start_after
        with storage_errors(f"list {bucket}/{prefix}"):
            response = self.client.list_objects_v2(**kwargs)
        objects = tuple(
            ListedObject(
                key=item["Key"], size=int(item.get("Size", 0)), last_modified=item["LastModified"]
            )
            for item in response.get("Contents", ())
        )
        next_token = response.get("NextContinuationToken") if response.get("IsTruncated") else None
        return ObjectPage(prefix=prefix, objects=objects, next_token=next_token)

    def delete(self, bucket: str, keys: Sequence[str]) -> DeleteOutcome:
        """Delete up to 1000 managed keys with one DeleteObjects request.

        Keys S3 reports in `Errors` are returned as failures; every other key is deleted (S3
        reports a key that did not exist as deleted too, which is what a purge wants). A
        failure of the whole request raises StorageUnavailable or StorageRejected."""
        if len(keys) > MAX_DELETE_BATCH:
            raise ValueError(f"at most {MAX_DELETE_BATCH} keys per request, not {len(keys)}")
        if not keys:
            return DeleteOutcome(bucket=bucket, deleted=(), failures=())
        for key in keys:
            check_managed_key(key)  # the last line of defence: raises InvalidKey
        with storage_errors(f"delete {len(keys)} objects from {bucket}"):
            response = self.client.delete_objects(
                Bucket=bucket,
                Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True},
            )
        # A key that is not there (some S3-compatible stores say NoSuchKey where S3 says
        # nothing) is what a purge wants: deleted, not failed (Rails #50583 stopped there).
        failures = tuple(
            KeyFailure(
                key=str(error.get("Key", "")),
                code=str(error.get("Code", "Unknown")),
                message=str(error.get("Message", "")),
            )
            for error in response.get("Errors", ())
            if error.get("Code") != "NoSuchKey"
        )
        failed = {failure.key for failure in failures}
        return DeleteOutcome(
            bucket=bucket, deleted=tuple(k for k in keys if k not in failed), failures=failures
        )

    # -- URLs --------------------------------------------------------------------------------
    def signed_urls(
        self, bucket: str, keys: Sequence[str], *, expires: int, now: float
    ) -> tuple[list[str], int]:
        """Presigned GET URLs valid `expires` seconds from `now`, and the second they were
        signed at (reelflow.adapters.storage.s3_presign: botocore's bytes, signed faster)."""
        if self._presigner is None:
            with self._lock:
                if self._presigner is None:
                    self._presigner = Presigner(self._settings)
        signed: tuple[list[str], int] = self._presigner.sign(bucket, keys, now, expires=expires)
        return signed

"""S3 adapter: the client factory and the few calls reelflow makes, with errors translated
(StorageUnavailable: retry; StorageRejected, MissingCredentials: terminal).

`delete_keys` checks every key with keys.check_managed_key before anything is sent: no code
path in reelflow can ask S3 to delete an object outside the managed prefixes.

botocore's own retries are switched off (total_max_attempts=1): Prefect task retries are the
one retry owner for transient storage errors, so attempts do not multiply.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from reelflow.core.errors import MissingCredentials, StorageRejected, StorageUnavailable
from reelflow.core.keys import check_managed_key
from reelflow.core.sweep import ListedObject
from reelflow.settings import Settings

__all__ = [
    "MAX_DELETE_BATCH",
    "MULTIPART_CONCURRENCY",
    "DeleteOutcome",
    "KeyFailure",
    "ObjectPage",
    "delete_keys",
    "list_page",
    "ensure_bucket",
    "forget_clients",
    "head_sha256",
    "list_range",
    "make_s3_client",
    "storage_errors",
    "translate",
    "upload_file",
]

_TRANSIENT_CODES = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "InternalError",
    "ServiceUnavailable",
    "503",
    "500",
    "502",
    "504",
}
MULTIPART_CONCURRENCY = 4  # parts of one multipart upload in flight at once
_clients: dict[tuple[Any, ...], Any] = {}
_lock = threading.Lock()


def forget_clients() -> None:
    """Drop the shared clients (reelflow.services.state.reset); the next use builds anew."""
    with _lock:
        _clients.clear()


def make_s3_client(settings: Settings) -> Any:
    """A boto3 S3 client for these settings, built on first use and shared (it is thread-safe)."""
    key = (
        settings.s3_endpoint,
        settings.s3_region,
        settings.s3_access_key_id.get_secret_value() if settings.s3_access_key_id else None,
        settings.s3_secret_access_key.get_secret_value() if settings.s3_secret_access_key else None,
        settings.s3_connect_timeout,
        settings.s3_read_timeout,
        settings.import_concurrency,
    )
    with _lock:
        client = _clients.get(key)
        if client is None:
            config = Config(
                region_name=settings.s3_region,
                retries={"total_max_attempts": 1, "mode": "standard"},
                connect_timeout=settings.s3_connect_timeout,
                read_timeout=settings.s3_read_timeout,
                max_pool_connections=max(10, settings.import_concurrency * 4),
                s3={"addressing_style": "path"} if settings.s3_endpoint else {},
                signature_version="s3v4",
            )
            session = boto3.session.Session(
                aws_access_key_id=key[2], aws_secret_access_key=key[3], region_name=key[1]
            )
            client = session.client("s3", endpoint_url=settings.s3_endpoint, config=config)
            _clients[key] = client
        return client


def _client_error_code(exc: BaseException) -> tuple[str, int] | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ClientError):
            err = current.response.get("Error", {})
            status = current.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            return str(err.get("Code", "")), int(status or 0)
        current = current.__cause__ or current.__context__
    return None


def translate(exc: BaseException, what: str) -> Exception:
    """Map a boto3/botocore exception to StorageUnavailable (retry) or StorageRejected."""
    if isinstance(
        exc,
        EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError | ConnectionClosedError,
    ):
        return StorageUnavailable(f"{what}: cannot reach S3 ({type(exc).__name__})")
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return MissingCredentials(
            f"{what}: no S3 credentials - set S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY "
            "(or configure AWS's credential chain)"
        )
    found = _client_error_code(exc)
    if found is not None:
        code, status = found
        if code in _TRANSIENT_CODES or status >= 500 or status == 429:
            return StorageUnavailable(f"{what}: S3 answered {code or status}")
        return StorageRejected(f"{what}: S3 refused ({code or status})")
    if isinstance(exc, S3UploadFailedError | BotoCoreError):
        # Transfer-manager failures without a ClientError are network-level: transient.
        return StorageUnavailable(f"{what}: {type(exc).__name__}: {exc}")
    return StorageRejected(f"{what}: {type(exc).__name__}: {exc}")


class storage_errors:  # noqa: N801 - used as a context manager, reads like one
    """`with storage_errors("upload k"):` re-raises boto errors as reelflow errors."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None or not isinstance(exc, BotoCoreError | ClientError | S3UploadFailedError):
            return
        raise translate(exc, self.what) from exc


def ensure_bucket(client: Any, bucket: str) -> bool:
    """Create the bucket if missing, with all public access blocked. True if it was created."""
    with storage_errors(f"head bucket {bucket}"):
        try:
            client.head_bucket(Bucket=bucket)
            return False
        except ClientError as exc:
            if _client_error_code(exc) not in {("404", 404), ("NoSuchBucket", 404)}:
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


def head_sha256(client: Any, bucket: str, key: str) -> str | None:
    """The sha256 recorded on the object, or None if the object does not exist."""
    with storage_errors(f"head {key}"):
        try:
            response = client.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if (_client_error_code(exc) or ("", 0))[1] == 404:
                return None
            raise
    value = response.get("Metadata", {}).get("sha256")
    return str(value) if value else None


def upload_file(
    client: Any,
    path: str,
    bucket: str,
    key: str,
    *,
    content_type: str,
    cache_control: str,
    sha256: str,
    multipart_threshold: int,
    multipart_chunksize: int,
) -> None:
    """Upload a local file: one PUT below the threshold, multipart (bounded memory) above it.

    Objects are private (no ACL is granted). The sha256 goes into the object's metadata so a
    re-run can prove an object is already the right one without downloading it.
    """
    config = TransferConfig(
        multipart_threshold=multipart_threshold,
        multipart_chunksize=multipart_chunksize,
        max_concurrency=MULTIPART_CONCURRENCY,
        use_threads=True,
    )
    with storage_errors(f"upload {key}"):
        client.upload_file(
            path,
            bucket,
            key,
            ExtraArgs={
                "ContentType": content_type,
                "CacheControl": cache_control,
                "Metadata": {"sha256": sha256},
            },
            Config=config,
        )


def download_to(
    client: Any, bucket: str, key: str, dest: Any, *, max_bytes: int
) -> tuple[int, str]:
    """Stream an object into the open binary file `dest`; return (bytes, sha256 hex).

    A missing object raises StorageRejected (terminal: it will not come back by retrying); a
    body over `max_bytes` raises TooLarge before more is read."""
    import hashlib

    from reelflow.core.errors import StorageRejected, TooLarge

    digest = hashlib.sha256()
    size = 0
    with storage_errors(f"download {key}"):
        try:
            response = client.get_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if (_client_error_code(exc) or ("", 0))[1] == 404:
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


# --- listing and deleting (cleanup) ---------------------------------------------------

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
    client: Any,
    bucket: str,
    prefix: str,
    token: str | None = None,
    max_keys: int = MAX_LIST_PAGE,
    *,
    start_after: str | None = None,
) -> ObjectPage:
    """One page (up to 1000 objects) under prefix, continuing from `token` (or, for the first
    page, from after `start_after`)."""
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": max_keys}
    if token:
        kwargs["ContinuationToken"] = token
    elif start_after:
        kwargs["StartAfter"] = start_after
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


def list_range(client: Any, bucket: str, first: str, last: str) -> tuple[dict[str, int], int]:
    """Every object whose key lies in [first, last] (S3's bytewise order): ({key: size},
    ListObjectsV2 requests made). One request lists up to 1000 objects with their sizes, where
    HEAD costs one request per object; the listing starts right before `first` and stops at
    the first key past `last`."""
    sizes: dict[str, int] = {}
    requests = 0
    token: str | None = None
    # The longest common prefix narrows the listing; StartAfter a proper prefix of `first`
    # (which sorts before it) starts at `first` or just before it.
    common = os.path.commonprefix([first, last])
    while True:
        page = list_page(client, bucket, common, token, start_after=first[:-1])
        requests += 1
        for obj in page.objects:
            if obj.key > last:
                return sizes, requests
            if obj.key >= first:
                sizes[obj.key] = obj.size
        token = page.next_token
        if token is None:
            return sizes, requests

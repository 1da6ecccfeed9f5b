"""S3 adapter: the client factory and the few calls reelflow makes, with errors translated.

botocore's own retries are switched off (total_max_attempts=1): Prefect task retries are the
one retry owner for transient storage errors, so attempts do not multiply.
"""

from __future__ import annotations

import threading
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
    ReadTimeoutError,
)

from reelflow.errors import StorageRejected, StorageUnavailable
from reelflow.settings import Settings

__all__ = [
    "MULTIPART_CONCURRENCY",
    "ensure_bucket",
    "head_sha256",
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

"""The boto3 S3 client reelflow shares per settings, and the translation of boto3's errors into
reelflow's (StorageUnavailable: retry; StorageRejected, MissingCredentials: terminal). Used by
S3Store (reelflow.adapters.storage.s3) and its presigner."""

from __future__ import annotations

import threading
from typing import Any

import boto3
from boto3.exceptions import S3UploadFailedError
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
from reelflow.settings import Settings

__all__ = [
    "MULTIPART_CONCURRENCY",
    "client_error_code",
    "forget_clients",
    "make_s3_client",
    "storage_errors",
    "translate",
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


def make_s3_client(settings: Settings, *, pool: int | None = None, attempts: int = 1) -> Any:
    """A boto3 S3 client for these settings, built on first use and shared (it is thread-safe).

    reelflow's own calls take the defaults: one attempt (task retries are the retry owner).
    A benchmark seeding thousands of objects asks for a bigger `pool` and botocore's retries."""
    pool = pool or max(10, settings.import_concurrency * 4)
    key = (
        settings.s3_endpoint,
        settings.s3_region,
        *settings.s3_credentials(),
        settings.s3_connect_timeout,
        settings.s3_read_timeout,
        pool,
        attempts,
    )
    with _lock:
        client = _clients.get(key)
        if client is None:
            config = Config(
                region_name=settings.s3_region,
                retries={"total_max_attempts": attempts, "mode": "standard"},
                connect_timeout=settings.s3_connect_timeout,
                read_timeout=settings.s3_read_timeout,
                max_pool_connections=pool,
                s3={"addressing_style": "path"} if settings.s3_endpoint else {},
                signature_version="s3v4",
            )
            session = boto3.session.Session(
                aws_access_key_id=key[2], aws_secret_access_key=key[3], region_name=key[1]
            )
            client = session.client("s3", endpoint_url=settings.s3_endpoint, config=config)
            _clients[key] = client
        return client


def client_error_code(exc: BaseException) -> tuple[str, int] | None:
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
    found = client_error_code(exc)
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

"""CDN purges behind one small interface; CloudFront is the one built.

    class CdnPurger(Protocol):
        name: str
        def purge(self, paths: Sequence[str], reference: str) -> str   # the CDN's id for it

Cloudflare (purge by URL) or Fastly (surrogate keys) would be another class with `purge` and
one more branch in `make_purger`. Whether there is a CDN at all, and which, is decided there and
nowhere else: callers ask `make_purger(settings)` (through reelflow.services.resources.purger)
and get a purger or None. Building one connects to nothing; its client is made on first purge.

CloudFront: one invalidation per batch of at most reelflow.core.cdn.MAX_PATHS paths, its
CallerReference derived from the paths (a retry is the same invalidation, not a new bill),
retried with jittered backoff on TooManyInvalidationsInProgress and throttling. Whatever
still fails is CdnUnavailable: the caller keeps the paths queued for the next run.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from reelflow.core.errors import CdnUnavailable
from reelflow.settings import Settings

_purgers: dict[tuple[object, ...], CdnPurger | None] = {}
_lock = threading.Lock()

__all__ = ["CdnPurger", "CloudFrontPurger", "forget_purgers", "make_purger"]

_BUSY = {
    "TooManyInvalidationsInProgress",
    "Throttling",
    "ThrottlingException",
    "ServiceUnavailable",
}


class CdnPurger(Protocol):
    name: str

    def purge(self, paths: Sequence[str], reference: str) -> str: ...


class CloudFrontPurger:
    name = "cloudfront"

    def __init__(
        self,
        client: Any,
        distribution_id: str,
        *,
        make_client: Callable[[], Any] | None = None,
        attempts: int = 5,
        base_delay: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        # A boto3 client, or (client None) `make_client` makes one on the first purge.
        self._client, self._make_client = client, make_client
        self._client_lock = threading.Lock()
        self.distribution_id = distribution_id
        self.attempts, self.base_delay, self.sleep = attempts, base_delay, sleep

    @property
    def client(self) -> Any:
        if self._client is None and self._make_client is not None:
            with self._client_lock:
                if self._client is None:
                    self._client = self._make_client()
        return self._client

    def purge(self, paths: Sequence[str], reference: str) -> str:
        batch = {
            "Paths": {"Quantity": len(paths), "Items": list(paths)},
            "CallerReference": reference,
        }
        for attempt in range(1, self.attempts + 1):
            try:
                answer = self.client.create_invalidation(
                    DistributionId=self.distribution_id, InvalidationBatch=batch
                )
                return str(answer["Invalidation"]["Id"])
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                if code in _BUSY and attempt < self.attempts:
                    self.sleep(random.uniform(0, self.base_delay * 2 ** (attempt - 1)))
                    continue
                raise CdnUnavailable(f"CloudFront refused the invalidation: {code}") from None
            except BotoCoreError as exc:
                if attempt < self.attempts:
                    self.sleep(random.uniform(0, self.base_delay * 2 ** (attempt - 1)))
                    continue
                raise CdnUnavailable(f"CloudFront did not answer: {type(exc).__name__}") from None
        raise CdnUnavailable("CloudFront: no attempt left")  # pragma: no cover


def make_purger(settings: Settings) -> CdnPurger | None:
    """The CDN purger the settings name; None without a CDN to purge. Shared per settings."""
    key = (
        settings.cloudfront_distribution_id,
        settings.cloudfront_endpoint,
        *settings.s3_credentials(),
    )
    with _lock:
        if key not in _purgers:
            _purgers[key] = _build(settings)
        return _purgers[key]


def forget_purgers() -> None:
    """Drop the shared purgers (reelflow.services.state.reset)."""
    with _lock:
        _purgers.clear()


def _build(settings: Settings) -> CdnPurger | None:
    if not settings.cloudfront_distribution_id:
        return None
    return CloudFrontPurger(
        None,
        settings.cloudfront_distribution_id,
        make_client=lambda: _cloudfront_client(settings),
    )


def _cloudfront_client(settings: Settings) -> Any:
    import boto3

    key_id, secret = settings.s3_credentials()
    session = boto3.session.Session(
        aws_access_key_id=key_id, aws_secret_access_key=secret, region_name="us-east-1"
    )
    client = session.client(
        "cloudfront",
        endpoint_url=settings.cloudfront_endpoint,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=30),
    )
    return client

"""Presigned GET URLs for the configured S3, fast: reelflow.core.sigv4 once it matched botocore.

For each bucket, the first use asks botocore for one presigned URL (a probe key; local, no
request is sent), learns the endpoint from it (scheme, host, path style or virtual-hosted,
region) and signs the probe again with reelflow.core.sigv4 at the same instant. Only if both
URLs are identical does the fast signer serve that bucket; otherwise (an endpoint shape this
module does not know) every URL of that bucket goes through botocore's generate_presigned_url,
and a warning says so once.
"""

from __future__ import annotations

import calendar
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import boto3

from reelflow.adapters.storage.s3_client import make_s3_client, storage_errors
from reelflow.core.errors import MissingCredentials
from reelflow.core.sigv4 import Credentials, Endpoint, presign_get, query_params
from reelflow.settings import Settings

__all__ = ["Presigner"]

log = logging.getLogger(__name__)

PROBE_KEY = "episode-thumbnails/presign-probe/ep0_thumb.webp"


def _signed_at(url: str) -> int:
    stamp = query_params(url).get("X-Amz-Date", "")
    return calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%SZ"))


class Presigner:
    """Signs pages of keys for one Settings; thread-safe, set up lazily on first use."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._endpoints: dict[str, Endpoint | None] = {}
        self._credentials: Any = None

    def _client(self) -> Any:
        return make_s3_client(self._settings)

    def _frozen(self) -> Credentials:
        if self._credentials is None:
            key_id, secret = self._settings.s3_credentials()
            session = boto3.session.Session(
                aws_access_key_id=key_id,
                aws_secret_access_key=secret,
                region_name=self._settings.s3_region,
            )
            self._credentials = session.get_credentials()
            if self._credentials is None:
                raise MissingCredentials(
                    "no S3 credentials to sign URLs with - set S3_ACCESS_KEY_ID and "
                    "S3_SECRET_ACCESS_KEY (or configure AWS's credential chain)"
                )
        frozen = self._credentials.get_frozen_credentials()  # refreshes expiring ones
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token)

    def _botocore(self, bucket: str, key: str, expires: int) -> str:
        # Signing is local, but botocore looks the credentials up here: none is
        # MissingCredentials (naming the variables), not botocore's NoCredentialsError.
        with storage_errors(f"sign a URL for {bucket}"):
            url: str = self._client().generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires
            )
        return url

    def endpoint(self, bucket: str) -> Endpoint | None:
        """The endpoint for bucket if the fast signer reproduces botocore there, else None."""
        with self._lock:
            if bucket in self._endpoints:
                return self._endpoints[bucket]
            expires = self._settings.presign_expiry
            probe = self._botocore(bucket, PROBE_KEY, expires)
            found: Endpoint | None
            try:
                found = Endpoint.from_presigned(probe, PROBE_KEY)
                again = presign_get(
                    [PROBE_KEY],
                    endpoint=found,
                    credentials=self._frozen(),
                    expires=expires,
                    now=_signed_at(probe),
                )[0]
            except ValueError as exc:
                found, again = None, str(exc)
            if again != probe:
                log.warning(
                    "Presigning for bucket %s goes through botocore (slower): the fast signer "
                    "does not reproduce its URLs for this endpoint",
                    bucket,
                )
                found = None
            self._endpoints[bucket] = found
            return found

    def sign(
        self, bucket: str, keys: Sequence[str], now: float, *, expires: int
    ) -> tuple[list[str], int]:
        """(URLs, signed-at epoch second) for `keys` in `bucket`, valid `expires` seconds."""
        endpoint = self.endpoint(bucket)
        if endpoint is None:
            signed_at = int(time.time())
            return [self._botocore(bucket, key, expires) for key in keys], signed_at
        urls = presign_get(
            keys, endpoint=endpoint, credentials=self._frozen(), expires=expires, now=now
        )
        return urls, int(now)

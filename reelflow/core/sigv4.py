"""SigV4 query signing of S3 GET URLs, a page at a time. Pure: hashlib, hmac and urllib only.

botocore's generate_presigned_url spends ~0.15-0.3 ms per URL in its request pipeline
(parameter validation, endpoint rules, event hooks); the signature itself is one SHA-256 and one
HMAC. Here every URL of a page shares one timestamp, one credential scope and one (per day)
signing key, so the per-key work is a canonical request, two hashes and a few joins (~2 us).

The URLs are byte for byte what botocore's S3SigV4QueryAuth produces for the same instant:
reelflow.adapters.storage.s3_presign checks that against a URL botocore signed before it trusts this
module for an endpoint, and the tests compare both for fixed instants.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qsl, quote, urlsplit

__all__ = ["Credentials", "Endpoint", "presign_get", "query_params"]

_ALGORITHM = "AWS4-HMAC-SHA256"
_SAFE = "-_.~"  # botocore.utils.SAFE_CHARS: what query values leave unencoded
_KEY_SAFE = "/~"  # how botocore encodes an S3 key (a greedy label) into the path


@dataclass(frozen=True)
class Credentials:
    """Frozen credentials: the secret never leaves this object (it has no readable repr)."""

    access_key: str
    secret_key: str
    token: str | None = None

    def __repr__(self) -> str:
        return f"Credentials(access_key={self.access_key!r}, secret_key='***')"


@dataclass(frozen=True)
class Endpoint:
    """Where one bucket's objects live: `{origin}{prefix}{quoted key}` is an object's URL."""

    origin: str  # scheme://netloc, as written in the URL
    host: str  # the host header botocore signs: lowercase, default port dropped
    prefix: str  # "/bucket/" (path style) or "/" (virtual-hosted style)
    region: str
    service: str = "s3"

    @classmethod
    def from_presigned(cls, url: str, key: str) -> Endpoint:
        """The endpoint of a URL that botocore presigned for `key` (its region from the scope)."""
        parts = urlsplit(url)
        quoted = quote(key, safe=_KEY_SAFE)
        if not parts.path.endswith(quoted) or not parts.hostname:
            raise ValueError(f"{url!r} is not a presigned URL for {key!r}")
        scope = query_params(url).get("X-Amz-Credential", "").split("/")
        if len(scope) != 5:
            raise ValueError(f"{url!r} carries no SigV4 credential scope")
        return cls(
            origin=f"{parts.scheme}://{parts.netloc}",
            host=_host_header(url),
            prefix=parts.path[: -len(quoted)],
            region=scope[2],
            service=scope[3],
        )


def _host_header(url: str) -> str:
    """The Host value botocore signs (botocore.auth._host_from_url)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(parts.scheme)
    if parts.port is not None and parts.port != default:
        host = f"{host}:{parts.port}"
    return host


def query_params(url: str) -> dict[str, str]:
    """A URL's query parameters, decoded (X-Amz-Date, X-Amz-Expires, X-Amz-Signature, ...)."""
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


@lru_cache(maxsize=64)
def _signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    key = hmac.new(f"AWS4{secret_key}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def presign_get(
    keys: Sequence[str],
    *,
    endpoint: Endpoint,
    credentials: Credentials,
    expires: int,
    now: float,
) -> list[str]:
    """Presigned GET URLs for `keys`, valid `expires` seconds from `now` (epoch seconds).

    The timestamp is `now` truncated to the second, as botocore's is.
    """
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(int(now)))
    date = stamp[:8]
    scope = f"{date}/{endpoint.region}/{endpoint.service}/aws4_request"
    # botocore's order in the URL; the canonical query string is the same pairs sorted.
    params = [
        ("X-Amz-Algorithm", _ALGORITHM),
        ("X-Amz-Credential", f"{credentials.access_key}/{scope}"),
        ("X-Amz-Date", stamp),
        ("X-Amz-Expires", str(int(expires))),
        ("X-Amz-SignedHeaders", "host"),
    ]
    if credentials.token is not None:
        params.append(("X-Amz-Security-Token", credentials.token))
    encoded = [f"{quote(k, safe=_SAFE)}={quote(v, safe=_SAFE)}" for k, v in params]
    query = "&".join(encoded)
    canonical_query = "&".join(sorted(encoded))
    head = f"GET\n{endpoint.prefix}"
    tail = f"\n{canonical_query}\nhost:{endpoint.host}\n\nhost\nUNSIGNED-PAYLOAD"
    sts_head = f"{_ALGORITHM}\n{stamp}\n{scope}\n"
    signing_key = _signing_key(credentials.secret_key, date, endpoint.region, endpoint.service)
    base = endpoint.origin + endpoint.prefix
    sha256 = hashlib.sha256
    new_hmac = hmac.new
    urls = []
    for key in keys:
        path = quote(key, safe=_KEY_SAFE)
        digest = sha256(f"{head}{path}{tail}".encode()).hexdigest()
        signature = new_hmac(signing_key, f"{sts_head}{digest}".encode(), sha256).hexdigest()
        urls.append(f"{base}{path}?{query}&X-Amz-Signature={signature}")
    return urls

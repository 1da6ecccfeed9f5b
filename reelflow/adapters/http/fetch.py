"""Stream a source URL into a file, safely: redirects vetted one by one, size limits while
streaming, and HTTP statuses mapped to reelflow's errors (retryable or terminal). Connections
go through the guarded client of reelflow.adapters.http.transport.

`fetch_to_file` leaves partial bytes in `dest` when it raises: the caller truncates or
discards `dest` on any exception.
"""

from __future__ import annotations

import builtins
import hashlib
import logging
from dataclasses import dataclass
from typing import BinaryIO

import httpx

from reelflow.adapters.http.transport import guarded_by, make_client
from reelflow.core.backoff import parse_retry_after
from reelflow.core.errors import (
    BlockedURL,
    OriginRejected,
    OriginThrottled,
    OriginUnavailable,
    OriginUnreachable,
    TooLarge,
)
from reelflow.core.urlguard import FetchPolicy, check_url, redact

__all__ = ["FetchResult", "fetch_to_file", "probe_origin"]

logger = logging.getLogger(__name__)

HEAD_BYTES = 64
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class FetchResult:
    url: str  # as asked for (may hold a token: do not log it; use redact())
    final_url: str  # after redirects (same caveat)
    status: int
    content_type: str | None
    bytes: int
    sha256: str  # hex digest of the bytes written to dest
    redirects: int
    head: builtins.bytes  # the first 64 bytes, for sniffing the format


def _status_error(
    status: int, reason: str, shown: str, headers: httpx.Headers, retry_after_cap: float
) -> Exception | None:
    """The error an HTTP status means, or None when it is a success."""
    label = f"{shown}: HTTP {status} {reason}".rstrip()
    if status == 206:
        return OriginRejected(f"{label}: a partial body was not asked for")
    if 200 <= status < 300:
        return None
    if status == 429:
        wait = parse_retry_after(headers.get("retry-after"), cap=retry_after_cap)
        return OriginThrottled(label, retry_after=wait)
    if status == 408 or status >= 500:
        wait = parse_retry_after(headers.get("retry-after"), cap=retry_after_cap)
        return OriginUnavailable(label, retry_after=wait)
    if 300 <= status < 400:
        return OriginRejected(f"{label}: not a redirect that can be followed (no Location?)")
    return OriginRejected(label)


def _content_length(headers: httpx.Headers) -> int | None:
    value = headers.get("content-length")
    if value is None:
        return None
    try:
        length = int(value.split(",")[0].strip())
    except ValueError:
        return None
    return length if length >= 0 else None


def fetch_to_file(
    url: str,
    dest: BinaryIO,
    *,
    max_bytes: int,
    policy: FetchPolicy,
    client: httpx.Client | None = None,
    retry_after_cap: float = 60.0,
) -> FetchResult:
    """GET `url` and stream its body into `dest`, hashing as it goes; at most `max_bytes`.

    Raises (all from reelflow.core.errors): BlockedURL (URL or address not allowed, anywhere in
    the redirect chain), OriginRejected (4xx, too many redirects, odd 3xx), OriginThrottled
    (429, with retry_after), OriginUnavailable (connect/read errors, timeouts, resets,
    truncated bodies, 5xx/408), TooLarge (Content-Length or body over `max_bytes`).

    On any exception `dest` may hold part of a body: the caller must truncate or discard it.
    `client`, when given, must come from `make_client(policy)` (it carries the guard); by
    default a client is made and closed for this one call. Messages and logs show URLs
    through `redact`, never their query strings.
    """
    if max_bytes < 0:
        raise ValueError("max_bytes must be >= 0")
    own_client = client is None
    if client is None:
        client = make_client(policy)
    elif guarded_by(client) != policy:
        raise ValueError("client must come from make_client() with the same policy")
    try:
        return _fetch(url, dest, max_bytes, policy, client, retry_after_cap)
    finally:
        if own_client:
            client.close()


def probe_origin(url: str, client: httpx.Client, policy: FetchPolicy) -> None:
    """Is the origin of `url` taking connections again? What the outage gate asks while a host
    is down, instead of repeating an asset's download: HEADs through the guarded `client`,
    following redirects hop by hop with the same checks as a fetch (a download fails on its
    redirect target's host as often as on the first), up to the policy's limit. Any final
    HTTP answer, even a 404 or 405, means the chain is up; OriginUnreachable means a hop still
    refuses connections."""
    if guarded_by(client) != policy:
        raise ValueError("client must come from make_client() with the same policy")
    current = url
    for _ in range(policy.max_redirects + 1):
        shown = redact(current)
        check_url(current)
        try:
            response = client.head(current, follow_redirects=False)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise OriginUnreachable(f"{shown}: {type(exc).__name__}: {exc}") from exc
        except httpx.TransportError:
            return  # it took the connection: up, if slow or odd
        response.close()
        location = response.headers.get("location")
        if response.status_code not in _REDIRECTS or not location:
            return
        try:
            current = str(response.request.url.join(location.strip()))
        except (httpx.InvalidURL, UnicodeError, ValueError):
            return  # an answer, if a bad one: the fetch will say what is wrong


def _fetch(
    url: str,
    dest: BinaryIO,
    max_bytes: int,
    policy: FetchPolicy,
    client: httpx.Client,
    retry_after_cap: float,
) -> FetchResult:
    current = url
    redirects = 0
    while True:
        shown = redact(current)
        check_url(current)
        try:
            request = client.build_request("GET", current)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, UnicodeError, ValueError) as exc:
            raise BlockedURL(f"{shown}: not a valid URL ({type(exc).__name__})") from None
        logger.debug("GET %s", shown)
        try:
            response = client.send(request, stream=True, follow_redirects=False)
        except BlockedURL as exc:
            raise BlockedURL(f"{shown}: {exc}") from exc
        except httpx.RemoteProtocolError as exc:
            if "location header" in str(exc).lower():  # httpx parses Location itself
                raise OriginRejected(f"{shown}: redirect to an invalid Location ({exc})") from None
            raise OriginUnavailable(f"{shown}: {type(exc).__name__}: {exc}") from exc
        except (httpx.InvalidURL, UnicodeError) as exc:  # the request was valid: the Location
            raise OriginRejected(
                f"{shown}: redirect to an invalid Location ({type(exc).__name__}: {exc})"
            ) from None
        except httpx.ConnectTimeout as exc:
            raise OriginUnreachable(
                f"{shown}: timed out connecting ({type(exc).__name__})"
            ) from exc
        except httpx.TimeoutException as exc:
            raise OriginUnavailable(f"{shown}: timed out ({type(exc).__name__})") from exc
        except httpx.ConnectError as exc:
            # A refused or unroutable connection: the host is down for every asset on it. A
            # failed name lookup stays OriginUnavailable (most often a bad host name).
            down: type[OriginUnavailable] = (
                OriginUnavailable if "cannot resolve" in str(exc) else OriginUnreachable
            )
            raise down(f"{shown}: {type(exc).__name__}: {exc}") from exc
        except httpx.TransportError as exc:
            raise OriginUnavailable(f"{shown}: {type(exc).__name__}: {exc}") from exc
        try:
            status = response.status_code
            location = response.headers.get("location")
            if status in _REDIRECTS and location:
                if redirects >= policy.max_redirects:
                    raise OriginRejected(
                        f"too many redirects (more than {policy.max_redirects}) "
                        f"starting at {redact(url)}, last at {shown}"
                    )
                try:
                    target = str(request.url.join(location.strip()))
                except (httpx.InvalidURL, UnicodeError, ValueError):
                    raise OriginRejected(f"{shown}: HTTP {status} to an invalid Location") from None
                redirects += 1
                logger.debug("%s: HTTP %d -> %s", shown, status, redact(target))
                current = target
                continue
            error = _status_error(
                status, response.reason_phrase, shown, response.headers, retry_after_cap
            )
            if error is not None:
                raise error
            return _stream_body(url, current, shown, response, dest, max_bytes, redirects)
        finally:
            response.close()


def _stream_body(
    url: str,
    current: str,
    shown: str,
    response: httpx.Response,
    dest: BinaryIO,
    max_bytes: int,
    redirects: int,
) -> FetchResult:
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise OriginRejected(
            f"{shown}: Content-Encoding {encoding!r} though only identity was accepted"
        )
    declared = _content_length(response.headers)
    if declared is not None and declared > max_bytes:
        raise TooLarge(f"{shown}: Content-Length {declared} exceeds the limit of {max_bytes} bytes")
    digest = hashlib.sha256()
    head = b""
    count = 0
    try:
        for chunk in response.iter_raw():
            if count + len(chunk) > max_bytes:
                raise TooLarge(f"{shown}: body exceeds the limit of {max_bytes} bytes")
            dest.write(chunk)
            digest.update(chunk)
            if len(head) < HEAD_BYTES:
                head += chunk[: HEAD_BYTES - len(head)]
            count += len(chunk)
    except httpx.TimeoutException as exc:
        raise OriginUnavailable(
            f"{shown}: timed out reading the body after {count} bytes ({type(exc).__name__})"
        ) from exc
    except httpx.TransportError as exc:
        raise OriginUnavailable(
            f"{shown}: body broken off after {count} bytes ({type(exc).__name__}: {exc})"
        ) from exc
    if declared is not None and count != declared:
        raise OriginUnavailable(f"{shown}: body truncated: {count} of {declared} bytes")
    logger.debug("%s: %d bytes in, %d redirects", shown, count, redirects)
    return FetchResult(
        url=url,
        final_url=current,
        status=response.status_code,
        content_type=response.headers.get("content-type"),
        bytes=count,
        sha256=digest.hexdigest(),
        redirects=redirects,
        head=head,
    )

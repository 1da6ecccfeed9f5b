"""Stream a source URL into a file, safely: the SSRF guard, size limits and error mapping.

How the guard is wired in: `make_client` builds an `httpx.Client` whose transport is a thin
`httpx.BaseTransport` over an `httpcore.ConnectionPool`, and that pool's network backend is
`GuardedBackend`. httpcore asks the backend to `connect_tcp(host, port)` for every new
connection; the backend resolves `host` itself (IP literals and `localhost` without DNS,
anything else with one `getaddrinfo`), runs `urlguard.check_address` on every address, and
connects to the first allowed one by IP. There is no second lookup, so DNS rebinding has no
gap to use, and since httpcore still holds the URL's host name, the Host header, TLS SNI and
certificate verification all use the original name. Redirects are followed by hand here, each
Location vetted with `check_url`; its address is vetted when its connection is made.

`fetch_to_file` leaves partial bytes in `dest` when it raises: the caller truncates or
discards `dest` on any exception.
"""

from __future__ import annotations

import builtins
import hashlib
import logging
import math
import socket
import ssl
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any, BinaryIO

import httpcore
import httpx

from reelflow.errors import (
    BlockedURL,
    OriginRejected,
    OriginThrottled,
    OriginUnavailable,
    TooLarge,
)
from reelflow.urlguard import FetchPolicy, check_address, check_url, redact, static_addresses

__all__ = [
    "USER_AGENT",
    "FetchResult",
    "GuardedBackend",
    "GuardedTransport",
    "fetch_to_file",
    "make_client",
    "parse_retry_after",
    "resolve",
]

logger = logging.getLogger(__name__)

USER_AGENT = "reelflow/0.1"
HEAD_BYTES = 64
_REDIRECTS = frozenset({301, 302, 303, 307, 308})

Resolver = Callable[[str, int], list[str]]
ConnectHook = Callable[[str, str, int], None]

# Clients made by make_client, with the policy their guard enforces.
_GUARDED: weakref.WeakKeyDictionary[httpx.Client, FetchPolicy] = weakref.WeakKeyDictionary()


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


# --- resolution and the connect-time guard -----------------------------------------------


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` stands for, in getaddrinfo's order, without duplicates.

    IP literals (any spelling) and the localhost names are answered without DNS.
    A failed lookup raises `httpcore.ConnectError` (mapped to OriginUnavailable).
    """
    known = static_addresses(host)
    if known is not None:
        return known
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
    addresses: list[str] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            ip = str(sockaddr[0])
            if ip not in addresses:
                addresses.append(ip)
    if not addresses:
        raise httpcore.ConnectError(f"cannot resolve {host}: no addresses")
    return addresses


class GuardedBackend(httpcore.NetworkBackend):
    """An httpcore network backend that connects only to addresses the policy allows.

    `resolver(host, port)` gives the candidate addresses (default: `resolve`); `on_connect(
    host, ip, port)` is called just before each TCP connect to a vetted address (tests use it
    to prove what was and was not dialled).
    """

    def __init__(
        self,
        policy: FetchPolicy,
        *,
        resolver: Resolver | None = None,
        on_connect: ConnectHook | None = None,
        inner: httpcore.NetworkBackend | None = None,
    ) -> None:
        self.policy = policy
        self._resolver = resolver or resolve
        self._on_connect = on_connect
        self._inner = inner or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = self._resolver(host, port)
        allowed: list[str] = []
        refusals: list[BlockedURL] = []
        for ip in addresses:
            try:
                check_address(ip, host, self.policy)
            except BlockedURL as exc:
                refusals.append(exc)
            else:
                allowed.append(ip)
        if not allowed:
            if refusals:
                raise refusals[0]
            raise BlockedURL(f"{host}: resolved to no addresses")
        if refusals:
            logger.warning("%s: skipping blocked addresses %s", host, "; ".join(map(str, refusals)))
        deadline = None if timeout is None else time.monotonic() + timeout
        error: Exception | None = None
        for ip in allowed:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if remaining == 0.0:
                break
            if self._on_connect is not None:
                self._on_connect(host, ip, port)
            try:
                return self._inner.connect_tcp(
                    ip,
                    port,
                    timeout=remaining,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        if error is not None:
            raise error
        raise httpcore.ConnectTimeout(f"connecting to {host}:{port} timed out")

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise BlockedURL("unix sockets are not fetched")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


# --- an httpx transport over the guarded pool --------------------------------------------

# Most specific first: the first match wins.
_HTTPCORE_TO_HTTPX: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


def _to_httpx(exc: Exception) -> Exception:
    for source, target in _HTTPCORE_TO_HTTPX:
        if isinstance(exc, source):
            mapped = target(str(exc))
            mapped.__cause__ = exc
            return mapped
    return exc  # not an httpcore error (BlockedURL, a bug): pass it on untouched


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._stream
        except Exception as exc:
            raise _to_httpx(exc) from exc

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class GuardedTransport(httpx.BaseTransport):
    """HTTP/1.1 over an httpcore pool whose every connection goes through `GuardedBackend`."""

    def __init__(
        self,
        backend: GuardedBackend,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_keepalive: int = 20,
    ) -> None:
        self.backend = backend
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(),
            max_connections=None,
            max_keepalive_connections=max_keepalive,
            keepalive_expiry=5.0,
            http1=True,
            http2=False,
            retries=0,
            network_backend=backend,
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(request.stream, Iterable):
            raise TypeError("GuardedTransport needs a synchronous request body")
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions={k: v for k, v in request.extensions.items() if k != "sni_hostname"},
        )
        try:
            response = self._pool.handle_request(core_request)
        except Exception as exc:
            raise _to_httpx(exc) from exc
        if not isinstance(response.stream, Iterable):
            raise TypeError("httpcore returned an asynchronous stream")
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


def make_client(
    policy: FetchPolicy,
    *,
    resolver: Resolver | None = None,
    on_connect: ConnectHook | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> httpx.Client:
    """An httpx client that can only connect where `policy` allows.

    No environment proxies or .netrc (`trust_env=False`: a proxy would bypass the guard), no
    automatic redirects (`fetch_to_file` follows and vets them), no cookies kept, timeouts
    from the policy. Share one client across fetches to reuse connections; close it when done.
    Certificates are verified against the URL's host name with certifi's roots (or
    SSL_CERT_FILE / SSL_CERT_DIR), unless `ssl_context` is given (a private CA, tests).
    `resolver` and `on_connect` are for tests (see `GuardedBackend`).
    """
    backend = GuardedBackend(policy, resolver=resolver, on_connect=on_connect)
    client = httpx.Client(
        transport=GuardedTransport(backend, ssl_context=ssl_context),
        trust_env=False,
        follow_redirects=False,
        timeout=httpx.Timeout(
            connect=policy.connect_timeout,
            read=policy.read_timeout,
            write=policy.read_timeout,
            pool=policy.connect_timeout,
        ),
        headers={
            "User-Agent": USER_AGENT,
            "Accept": "*/*",
            "Accept-Encoding": "identity",
        },
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
    )
    _GUARDED[client] = policy
    return client


# --- the fetch ---------------------------------------------------------------------------


def parse_retry_after(
    value: str | None, *, cap: float = 60.0, now: float | None = None
) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP-date), capped.

    None when the header is missing or unreadable; never negative, never above `cap`.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    seconds: float
    if text.isascii() and text.isdigit():
        seconds = float(text)
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # "-0000": HTTP dates are GMT by definition
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), cap)


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

    Raises (all from reelflow.errors): BlockedURL (URL or address not allowed, anywhere in
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
    elif _GUARDED.get(client) != policy:
        raise ValueError("client must come from make_client() with the same policy")
    try:
        return _fetch(url, dest, max_bytes, policy, client, retry_after_cap)
    finally:
        if own_client:
            client.close()


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
        except httpx.TimeoutException as exc:
            raise OriginUnavailable(f"{shown}: timed out ({type(exc).__name__})") from exc
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

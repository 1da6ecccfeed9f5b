"""The guarded HTTP client: every connection is made only to an address the policy allows.

`make_client` builds an `httpx.Client` whose transport is a thin `httpx.BaseTransport` over an
`httpcore.ConnectionPool`, and that pool's network backend is `GuardedBackend`. httpcore asks
the backend to `connect_tcp(host, port)` for every new connection; the backend resolves `host`
itself (IP literals and `localhost` without DNS, anything else with one `getaddrinfo`), runs
`urlguard.check_address` on every address, and connects to the first allowed one by IP. There
is no second lookup, so DNS rebinding has no gap to use, and since httpcore still holds the
URL's host name, the Host header, TLS SNI and certificate verification all use the original
name. Redirects are followed by reelflow.adapters.http.fetch, each Location vetted there.
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpcore
import httpx

from reelflow.core.errors import BlockedURL
from reelflow.core.urlguard import FetchPolicy, check_address, static_addresses

__all__ = [
    "USER_AGENT",
    "GuardedBackend",
    "GuardedTransport",
    "guarded_by",
    "make_client",
    "resolve",
]

logger = logging.getLogger(__name__)

USER_AGENT = "reelflow/0.1"

Resolver = Callable[[str, int], list[str]]
ConnectHook = Callable[[str, str, int], None]

# Clients made by make_client, with the policy their guard enforces.
_GUARDED: weakref.WeakKeyDictionary[httpx.Client, FetchPolicy] = weakref.WeakKeyDictionary()


def guarded_by(client: httpx.Client) -> FetchPolicy | None:
    """The policy `client`'s guard enforces, or None for a client make_client did not build."""
    return _GUARDED.get(client)


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

"""A local origin HTTP server with fault injection: a stand-in for a CDN of temporary URLs.

Used by the tests, `make demo` and the benchmark. Standard library only; HTTP/1.1 with
keep-alive; listens on 127.0.0.1 only.

    with Origin() as origin:
        origin.add("/ep1/thumb.jpg", jpeg_bytes, "image/jpeg",
                   faults=[Fault.status(503), Fault.throttle("2")])
        url = origin.url("/ep1/thumb.jpg?token=abc")   # 503, then 429, then the body
        ...
        assert origin.requests("/ep1/thumb.jpg") == 3

Faults on a path are used in order, one per request: a fault with `times=N` serves N
requests and is then used up; `times=None` serves every request from then on. Once all are
used up the path serves its body. Paths are matched without their query string; unknown
paths answer 404.

The CDN model knobs (for benchmarks): `latency_ms` is waited before every response,
`bandwidth_bps` throttles each response body (so each connection gets that rate), and
`max_connections` lets only that many requests be served at once; the rest wait their turn.
`tls` (a server-side `ssl.SSLContext`) serves HTTPS instead of HTTP.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

__all__ = ["Fault", "Origin"]

_CHUNK = 64 * 1024


@dataclass
class Fault:
    """One misbehaviour; build with the classmethods (`Fault.status(503)`, ...)."""

    kind: str
    times: int | None = 1  # requests it serves before it is used up; None: forever
    code: int = 200
    seconds: float = 0.0
    location: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    gate: threading.Event | None = None

    @classmethod
    def status(
        cls, code: int, *, times: int | None = 1, headers: Mapping[str, str] | None = None
    ) -> Fault:
        """Answer `code` with a short text body (and any extra `headers`)."""
        return cls("status", times, code=code, headers=dict(headers or {}))

    @classmethod
    def throttle(cls, retry_after: str | None = "1", *, times: int | None = 1) -> Fault:
        """Answer 429 with `Retry-After: retry_after` (seconds or an HTTP-date; None: no header)."""
        headers = {} if retry_after is None else {"Retry-After": retry_after}
        return cls("status", times, code=429, headers=headers)

    @classmethod
    def reset(cls, *, times: int | None = 1) -> Fault:
        """Read the request, then abort the connection with a TCP RST (SO_LINGER 0)."""
        return cls("reset", times)

    @classmethod
    def truncate(cls, *, times: int | None = 1) -> Fault:
        """Send the full Content-Length but only half the body, then close."""
        return cls("truncate", times)

    @classmethod
    def endless(cls, *, times: int | None = None) -> Fault:
        """Stream a chunked body forever, until the client goes away."""
        return cls("endless", times)

    @classmethod
    def redirect(cls, location: str, status: int = 302, *, times: int | None = None) -> Fault:
        """Answer `status` with `Location: location` (absolute, or relative to this origin)."""
        return cls("redirect", times, code=status, location=location)

    @classmethod
    def latency(cls, seconds: float, *, times: int | None = None) -> Fault:
        """Wait `seconds` before the headers, then answer normally."""
        return cls("latency", times, seconds=seconds)

    @classmethod
    def hold(cls, gate: threading.Event, *, times: int | None = None) -> Fault:
        """Wait until `gate` is set (at most 10 minutes), then answer normally: a run that
        stays in flight until a test lets it go."""
        return cls("hold", times, seconds=600.0, gate=gate)

    @classmethod
    def stall(cls, seconds: float, *, times: int | None = None) -> Fault:
        """Send the headers, wait `seconds`, then the body (for read timeouts)."""
        return cls("stall", times, seconds=seconds)


@dataclass
class _Route:
    body: bytes
    content_type: str
    faults: list[Fault]
    headers: dict[str, str]

    def take_fault(self) -> Fault | None:
        for fault in self.faults:
            if fault.times is None:
                return fault
            if fault.times > 0:
                fault.times -= 1
                return fault
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # never wait for a handler stuck in a stall or an endless body
    origin: Origin

    def server_bind(self) -> None:
        # HTTPServer.server_bind would call socket.getfqdn(): a reverse lookup we do not need.
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    def handle_error(self, request: object, client_address: object) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):  # the client went away: part of the game here
            return
        if exc is not None:
            self.origin.errors.append(exc)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        origin = self.server.origin
        origin._accepted()
        if origin.tls is not None:  # handshake here, in the connection's own thread
            self.request.settimeout(5)
            self.request = origin.tls.wrap_socket(self.request, server_side=True)
            self.request.settimeout(None)
        super().setup()
        origin._opened(self.connection)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.origin._closed(self.connection)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.server.origin._serve(self, head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self.server.origin._serve(self, head=True)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class Origin:
    """A fault-injecting HTTP/1.1 origin on 127.0.0.1 (a context manager)."""

    def __init__(
        self,
        *,
        latency_ms: float = 0,
        bandwidth_bps: float | None = None,
        max_connections: int | None = None,
        tls: ssl.SSLContext | None = None,
        port: int = 0,
    ) -> None:
        """port=0 picks a free port; a fixed port keeps URLs stable across runs (the demo)."""
        self._port = port
        if latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        if bandwidth_bps is not None and bandwidth_bps <= 0:
            raise ValueError("bandwidth_bps must be positive")
        if max_connections is not None and max_connections < 1:
            raise ValueError("max_connections must be >= 1")
        self.latency_ms = latency_ms
        self.bandwidth_bps = bandwidth_bps
        self.max_connections = max_connections
        self.tls = tls
        self._slots = None if max_connections is None else threading.Semaphore(max_connections)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._routes: dict[str, _Route] = {}
        self._log: list[tuple[str, str]] = []
        self._headers: dict[str, dict[str, str]] = {}
        self._sockets: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.connections = 0  # TCP connections accepted, ever
        self.in_flight = 0  # requests being served now
        self.peak_in_flight = 0  # most requests served at once
        self.bytes_sent = 0  # body bytes written
        self.errors: list[BaseException] = []  # handler errors other than client disconnects

    # --- life cycle ---

    def start(self) -> Origin:
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server(("127.0.0.1", self._port), _Handler)
        server.origin = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"origin-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Origin:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- what tests use ---

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the origin is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        scheme = "http" if self.tls is None else "https"
        return f"{scheme}://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        """The absolute URL of `path` (which may carry a query string) on this origin."""
        if not path.startswith("/"):
            path = "/" + path
        return self.base_url + path

    def add(
        self,
        path: str,
        body: bytes,
        content_type: str = "application/octet-stream",
        *,
        faults: list[Fault] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """Serve `body` at `path` (after `faults`); returns the path's URL."""
        own_faults = [dataclasses.replace(fault) for fault in faults or []]  # own counters
        route = _Route(bytes(body), content_type, own_faults, dict(headers or {}))
        with self._lock:
            self._routes[path] = route
        return self.url(path)

    def add_faults(self, path: str, *faults: Fault) -> None:
        """Queue more faults on an existing path."""
        with self._lock:
            self._routes[path].faults.extend(dataclasses.replace(f) for f in faults)

    @property
    def log(self) -> list[tuple[str, str]]:
        """(method, path) of every request so far, in arrival order (path without query)."""
        with self._lock:
            return list(self._log)

    def requests(self, path: str | None = None) -> int:
        """How many requests reached `path` (any path when None)."""
        with self._lock:
            if path is None:
                return len(self._log)
            return sum(1 for _, p in self._log if p == path)

    def last_headers(self, path: str) -> dict[str, str]:
        """The request headers of the latest request to `path` (names lowercased)."""
        with self._lock:
            return dict(self._headers.get(path, {}))

    def counts(self) -> Counter[str]:
        """Requests per path."""
        with self._lock:
            return Counter(p for _, p in self._log)

    def reset_log(self) -> None:
        """Forget the request log and the counters (routes and faults stay)."""
        with self._lock:
            self._log.clear()
            self._headers.clear()
            self.connections = 0
            self.peak_in_flight = self.in_flight
            self.bytes_sent = 0

    # --- the server side ---

    def _accepted(self) -> None:
        with self._lock:
            self.connections += 1

    def _opened(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def _closed(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)

    def _wait(self, seconds: float) -> bool:
        """Sleep `seconds` unless the origin is closing; True when it should stop now."""
        return seconds > 0 and self._stopping.wait(seconds)

    @contextlib.contextmanager
    def _slot(self) -> Iterator[None]:
        if self._slots is not None:
            while not self._slots.acquire(timeout=0.05):
                if self._stopping.is_set():
                    raise ConnectionAbortedError("origin closing")
        with self._lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            yield
        finally:
            with self._lock:
                self.in_flight -= 1
            if self._slots is not None:
                self._slots.release()

    def _serve(self, handler: _Handler, *, head: bool) -> None:
        path = urlsplit(handler.path).path
        with self._lock:
            self._log.append((handler.command, path))
            self._headers[path] = {k.lower(): v for k, v in handler.headers.items()}
            route = self._routes.get(path)
            fault = route.take_fault() if route is not None else None
        with self._slot():
            if self._wait(self.latency_ms / 1000):
                return
            if route is None:
                self._simple(handler, 404, b"not found\n", head=head)
                return
            if fault is None:
                self._ok(handler, route, head=head)
                return
            getattr(self, f"_fault_{fault.kind}")(handler, route, fault, head)

    def _simple(
        self,
        handler: _Handler,
        code: int,
        body: bytes,
        *,
        head: bool,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        handler.send_response(code)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        if not head:
            self._write(handler, body)

    def _ok(self, handler: _Handler, route: _Route, *, head: bool, stall: float = 0.0) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", route.content_type)
        handler.send_header("Content-Length", str(len(route.body)))
        for name, value in route.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        if stall:
            handler.wfile.flush()
            if self._wait(stall):
                handler.close_connection = True
                return
        if not head:
            self._write(handler, route.body)

    def _write(self, handler: _Handler, data: bytes) -> None:
        """Write a body, at `bandwidth_bps` when set."""
        if self.bandwidth_bps is None:
            handler.wfile.write(data)
            self._count(len(data))
            return
        step = max(1024, min(_CHUNK, int(self.bandwidth_bps / 50)))
        started = time.monotonic()
        sent = 0
        view = memoryview(data)
        while sent < len(data):
            piece = view[sent : sent + step]
            handler.wfile.write(piece)
            sent += len(piece)
            self._count(len(piece))
            if self._wait(started + sent / self.bandwidth_bps - time.monotonic()):
                handler.close_connection = True
                return

    def _count(self, n: int) -> None:
        with self._lock:
            self.bytes_sent += n

    # --- faults ---

    def _fault_status(self, handler: _Handler, route: _Route, fault: Fault, head: bool) -> None:
        body = f"{fault.code} (injected)\n".encode()
        self._simple(handler, fault.code, body, head=head, headers=fault.headers)

    def _fault_redirect(self, handler: _Handler, route: _Route, fault: Fault, head: bool) -> None:
        self._simple(handler, fault.code, b"", head=head, headers={"Location": fault.location})

    def _fault_latency(self, handler: _Handler, route: _Route, fault: Fault, head: bool) -> None:
        if self._wait(fault.seconds):
            handler.close_connection = True
            return
        self._ok(handler, route, head=head)

    def _fault_hold(self, handler: _Handler, route: _Route, fault: Fault, head: bool) -> None:
        assert fault.gate is not None
        deadline = time.monotonic() + fault.seconds
        while not fault.gate.wait(0.05):
            if self._stopping.is_set() or time.monotonic() > deadline:
                handler.close_connection = True
                return
        self._ok(handler, route, head=head)

    def _fault_stall(self, handler: _Handler, route: _Route, fault: Fault, head: bool) -> None:
        self._ok(handler, route, head=head, stall=fault.seconds)

    def _fault_reset(self, handler: _Handler, route: _Route, fault: Fault, head: bool) -> None:
        handler.close_connection = True
        sock = handler.connection
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.rfile.close()  # drop the makefile reference so close() really closes
        sock.close()  # with linger 0: RST, not FIN

    def _fault_truncate(self, handler: _Handler, route: _Route, fault: Fault, head: bool) -> None:
        handler.close_connection = True
        handler.send_response(200)
        handler.send_header("Content-Type", route.content_type)
        handler.send_header("Content-Length", str(len(route.body)))
        handler.send_header("Connection", "close")
        handler.end_headers()
        if not head:
            self._write(handler, route.body[: len(route.body) // 2])
        handler.wfile.flush()

    def _fault_endless(self, handler: _Handler, route: _Route, fault: Fault, head: bool) -> None:
        handler.close_connection = True
        handler.send_response(200)
        handler.send_header("Content-Type", route.content_type)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        if head:
            return
        piece = (route.body or b"\0") * max(1, _CHUNK // max(1, len(route.body)))
        frame = b"%x\r\n" % len(piece) + piece + b"\r\n"
        while not self._stopping.is_set():
            self._write(handler, frame)  # raises once the client has gone

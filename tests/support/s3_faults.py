"""Misbehaving S3 endpoints: real HTTP proxies in front of moto, so the client, its retries,
XML parsing and error translation all run exactly as in production; the proxy only does what a
misbehaving S3 does.

    FaultyS3  refuses to delete chosen keys: DeleteObjects reports them in its <Error> list
    FlakyS3   answers the first `failures` object PUTs with 503 SlowDown (optionally only
              PUTs whose path holds `only`)

Why a proxy rather than botocore's event hooks: nothing of the client is replaced.
"""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

import httpx

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


# --- FaultyS3: DeleteObjects refuses chosen keys -------------------------------------------


@dataclass
class KeyFault:
    code: str
    message: str
    times: int | None  # None: every request


class _FaultyServer(ThreadingHTTPServer):
    daemon_threads = True
    proxy: FaultyS3


_HOP = {"host", "content-length", "connection", "transfer-encoding", "keep-alive"}


class _FaultyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _FaultyServer

    def _forward(self) -> None:
        proxy = self.server.proxy
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        injected: list[tuple[str, KeyFault]] = []
        if self.command == "POST" and self.path.split("?", 1)[-1].startswith("delete"):
            body, injected = proxy._strip(body)
            for name in list(headers):
                if name.lower() in {
                    "content-md5",
                    "x-amz-checksum-crc32",
                    "x-amz-sdk-checksum-algorithm",
                }:
                    del headers[name]
            headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
        response = proxy._client.request(
            self.command, proxy.upstream + self.path, headers=headers, content=body
        )
        content = response.content
        if injected:
            errors = "".join(
                f"<Error><Key>{escape(key)}</Key><Code>{fault.code}</Code>"
                f"<Message>{escape(fault.message)}</Message></Error>"
                for key, fault in injected
            )
            content = content.replace(b"</DeleteResult>", errors.encode() + b"</DeleteResult>")
        self.send_response(response.status_code)
        for name, value in response.headers.items():
            if name.lower() not in _HOP:
                self.send_header(name, value)
        if self.command == "HEAD":
            self.send_header("Content-Length", response.headers.get("content-length", "0"))
        else:
            self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward  # noqa: N815

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class FaultyS3:
    """`with FaultyS3(moto_endpoint) as s3: s3.fail(key, "AccessDenied")` - S3 over HTTP that
    refuses to delete chosen keys (the rest of the API passes through untouched)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self._faults: dict[str, KeyFault] = {}
        self._lock = threading.Lock()
        self.delete_requests = 0
        self.injected: list[tuple[str, str]] = []  # (key, code) of every injected error
        self._client = httpx.Client(trust_env=False, timeout=30)
        self._server: _FaultyServer | None = None

    def fail(
        self,
        key: str,
        code: str = "AccessDenied",
        message: str = "Access Denied",
        times: int | None = None,
    ) -> None:
        with self._lock:
            self._faults[key] = KeyFault(code, message, times)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def _strip(self, body: bytes) -> tuple[bytes, list[tuple[str, KeyFault]]]:
        """Remove the failing keys from a DeleteObjects body; return them with their fault."""
        root = ET.fromstring(body)  # noqa: S314 - our own client's request
        injected: list[tuple[str, KeyFault]] = []
        with self._lock:
            self.delete_requests += 1
            for obj in list(root.findall(f"{NS}Object")):
                key = obj.findtext(f"{NS}Key") or ""
                fault = self._faults.get(key)
                if fault is None or fault.times == 0:
                    continue
                if fault.times is not None:
                    fault.times -= 1
                root.remove(obj)
                injected.append((key, fault))
                self.injected.append((key, fault.code))
        if not root.findall(f"{NS}Object"):
            # S3 rejects an empty Delete; keep one harmless key so the request stays valid.
            placeholder = ET.SubElement(root, f"{NS}Object")
            ET.SubElement(placeholder, f"{NS}Key").text = "episode-thumbnails/__none__/ep0_thumb.x"
        ET.register_namespace("", NS[1:-1])
        return ET.tostring(root, xml_declaration=False), injected

    @property
    def endpoint(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FaultyS3:
        self._server = _FaultyServer(("127.0.0.1", 0), _FaultyHandler)
        self._server.proxy = self
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self._client.close()


# --- FlakyS3: the first object PUTs are throttled ------------------------------------------


class FlakyS3(ThreadingHTTPServer):
    """Forwards to moto, but answers the first `failures` object PUTs with 503 SlowDown."""

    daemon_threads = True

    def __init__(self, upstream: str, failures: int, only: str | None = None) -> None:
        super().__init__(("127.0.0.1", 0), FlakyS3Handler)
        self.upstream = upstream
        self.failures = failures
        self.only = only
        self.puts = 0
        self.put_paths: list[str] = []  # every object PUT that reached S3, in order
        self.lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class FlakyS3Handler(BaseHTTPRequestHandler):
    server: FlakyS3
    protocol_version = "HTTP/1.1"

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        is_object_put = self.command == "PUT" and self.path.count("/") >= 2
        if self.server.only is not None and self.server.only not in self.path:
            is_object_put = False
        if is_object_put:
            with self.server.lock:
                self.server.puts += 1
                fail = self.server.puts <= self.server.failures
            if fail:
                payload = (
                    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
                    b"<Message>Please reduce your request rate.</Message></Error>"
                )
                self.send_response(503)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
        if is_object_put:
            with self.server.lock:
                self.server.put_paths.append(self.path.split("?", 1)[0])
        headers = {k: v for k, v in self.headers.items() if k.lower() not in {"host"}}
        response = httpx.request(
            self.command,
            self.server.upstream + self.path,
            headers=headers,
            content=body,
            timeout=30,
            trust_env=False,
        )
        self.send_response(response.status_code)
        for key, value in response.headers.items():
            if key.lower() not in {"content-length", "transfer-encoding", "connection"}:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(response.content)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.content)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

    def log_message(self, *args: object) -> None:
        pass

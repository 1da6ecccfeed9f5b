"""Helpers for the cleanup tests: seed movies straight into PostgreSQL + S3, list the bucket,
and FaultyS3: a real HTTP proxy in front of moto that makes DeleteObjects fail for chosen keys.

Why a proxy rather than botocore's event hooks: the client, its retries, XML parsing and error
translation all run exactly as in production; the proxy only does what a misbehaving S3 does
(it does not delete the chosen keys and reports them in the response's <Error> list).
"""

from __future__ import annotations

import hashlib
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.sax.saxutils import escape

import httpx
import test_import_flow as _flow_helpers

from reelflow import repository, resources
from reelflow.keys import asset_key
from reelflow.manifest import parse_manifest
from reelflow.models import Prepared, Stored
from reelflow.settings import get_settings

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
EXT = {"thumbnail": ("webp", "image/webp"), "preview": ("webm", "video/webm")}


def bucket() -> str:
    return get_settings().s3_bucket_name


def put(key: str, body: bytes = b"x", *, bucket_name: str | None = None) -> None:
    resources.s3_client().put_object(Bucket=bucket_name or bucket(), Key=key, Body=body)


def listing(prefix: str = "") -> dict[str, dict[str, Any]]:
    """Every object in the test bucket (all pages)."""
    s3 = resources.s3_client()
    found: dict[str, dict[str, Any]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket(), Prefix=prefix):
        for obj in page.get("Contents", []):
            found[obj["Key"]] = obj
    return found


def seed_movie(
    movie_id: str, episodes: int, *, put_objects: bool = True, record: bool = True
) -> list[str]:
    """A movie whose assets are stored: rows through the real repository, tiny objects in S3.
    Returns the object keys."""
    engine = resources.engine()
    manifest = parse_manifest(
        {
            "movie_id": movie_id,
            "title": movie_id,
            "episodes": [
                {
                    "number": n,
                    "thumbnail_url": f"https://origin.example/{movie_id}/{n}/thumb.jpg?sig=t",
                    "video_preview_url": f"https://origin.example/{movie_id}/{n}/preview.webm",
                }
                for n in range(1, episodes + 1)
            ],
        }
    )
    jobs = repository.upsert_manifest(engine, manifest)
    keys = []
    for job in jobs:
        ext, content_type = EXT[job.kind]
        key = asset_key(job.kind, movie_id, job.number, ext)
        body = key.encode()
        if put_objects:
            put(key, body)
        if record:
            sha = hashlib.sha256(body).hexdigest()
            prepared = Prepared(
                job=job,
                path="/nonexistent",
                content_type=content_type,
                ext=ext,
                bytes=len(body),
                sha256=sha,
                source_bytes=len(body),
                source_sha256=sha,
            )
            repository.record_stored(
                engine, Stored(prepared=prepared, bucket=bucket(), key=key, uploaded=True), 1
            )
        keys.append(key)
    return keys


def queue_rows() -> dict[str, Any]:
    """purge_queue rows by key."""
    return {row.key: row for row in repository.purge_queue_rows(resources.engine())}


# --- a misbehaving S3 ---------------------------------------------------------------------


@dataclass
class KeyFault:
    code: str
    message: str
    times: int | None  # None: every request


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    proxy: FaultyS3


_HOP = {"host", "content-length", "connection", "transfer-encoding", "keep-alive"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

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
        self._server: _Server | None = None

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
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self._client.close()


# --- real imports through the fault-injecting origin ---------------------------------------


# The import-flow tests' helpers, shared rather than copied.
serve_movie = _flow_helpers.serve_movie
run_import = _flow_helpers.run

"""`reelflow bench store`: what the ObjectStore port costs, and what each store does.

One run, the same N objects (small WebP-sized files) through five operations:

    put     upload a file (one PUT each; no multipart at this size)
    head    size and the recorded sha256
    get     stream the object back and hash it
    list    the whole prefix, a page (1000 keys) at a time
    delete  batches of up to 1000 keys

three ways, in alternating rounds (the best round of each counts; the machine is shared):

    boto3   the raw client calls, nothing else: the baseline
    s3      S3Store through the port (translation of errors, sha256 metadata, the same client)
    disk    DiskStore in a temporary folder (atomic writes with fsync, sidecars)

Figures are operations per second, and s3/boto3 ratios: the port's overhead on S3.
Local S3 is moto over HTTP (bench.harness), so the S3 figures are moto's speed, not AWS's.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from reelflow.bench.harness import local_s3

if TYPE_CHECKING:
    from reelflow.adapters.storage import ObjectStore

__all__ = ["register", "run_bench"]

OPS = ("put", "head", "get", "list", "delete")
SIZE = 24 * 1024  # about a medium rendition


class _Raw:
    """The baseline: boto3's own calls for the same five operations."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def put(self, bucket: str, key: str, path: str, sha: str) -> None:
        self.client.upload_file(
            path,
            bucket,
            key,
            ExtraArgs={"ContentType": "image/webp", "Metadata": {"sha256": sha}},
        )

    def head(self, bucket: str, key: str) -> None:
        self.client.head_object(Bucket=bucket, Key=key)

    def get(self, bucket: str, key: str) -> None:
        body = self.client.get_object(Bucket=bucket, Key=key)["Body"]
        digest = hashlib.sha256()
        for chunk in body.iter_chunks(1 << 20):
            digest.update(chunk)
        body.close()

    def listing(self, bucket: str, prefix: str) -> int:
        count = 0
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix
        ):
            count += len(page.get("Contents", ()))
        return count

    def delete(self, bucket: str, keys: list[str]) -> None:
        self.client.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True}
        )


class _Port:
    """The same operations through an ObjectStore."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def put(self, bucket: str, key: str, path: str, sha: str) -> None:
        self.store.put_file(
            bucket, key, path, content_type="image/webp", cache_control="max-age=60", sha256=sha
        )

    def head(self, bucket: str, key: str) -> None:
        if self.store.head(bucket, key) is None:
            raise RuntimeError(f"{key} is missing")

    def get(self, bucket: str, key: str) -> None:
        with open(os.devnull, "wb") as sink:
            self.store.get_to(bucket, key, sink, max_bytes=SIZE * 2)

    def listing(self, bucket: str, prefix: str) -> int:
        count, token = 0, None
        while True:
            page = self.store.list_page(bucket, prefix, token)
            count += len(page.objects)
            token = page.next_token
            if token is None:
                return count

    def delete(self, bucket: str, keys: list[str]) -> None:
        self.store.delete(bucket, keys)


def _round(way: Any, bucket: str, keys: list[str], path: str, sha: str) -> dict[str, float]:
    """Ops per second of each operation over `keys`, in order; the bucket ends empty."""
    prefix = keys[0].rsplit("/", 1)[0] + "/"
    rates: dict[str, float] = {}

    def timed(name: str, count: int, fn: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        result = fn()
        rates[name] = count / (time.perf_counter() - started)
        return result

    timed("put", len(keys), lambda: [way.put(bucket, k, path, sha) for k in keys])
    timed("head", len(keys), lambda: [way.head(bucket, k) for k in keys])
    timed("get", len(keys), lambda: [way.get(bucket, k) for k in keys])
    listed = timed("list", len(keys), lambda: way.listing(bucket, prefix))
    if listed != len(keys):
        raise RuntimeError(f"listed {listed} objects, expected {len(keys)}")
    batches = [keys[i : i + 1000] for i in range(0, len(keys), 1000)]
    timed("delete", len(keys), lambda: [way.delete(bucket, b) for b in batches])
    return rates


def run_bench(objects: int, rounds: int, say: Callable[..., None]) -> dict[str, Any]:
    from reelflow.adapters.storage import make_store
    from reelflow.adapters.storage.disk import DiskStore
    from reelflow.adapters.storage.s3_client import make_s3_client
    from reelflow.core.keys import rendition_key

    workdir = Path(tempfile.mkdtemp(prefix="reelflow-bench-store-"))
    body = os.urandom(SIZE)
    source = workdir / "source.webp"
    source.write_bytes(body)
    sha = hashlib.sha256(body).hexdigest()
    version = sha[:10]
    tag = uuid.uuid4().hex[:8]
    bucket = f"bench{tag}-store"
    with local_s3(workdir, bucket) as moto:
        s3_store = make_store(moto.settings)
        s3_store.ensure_bucket(bucket)
        disk = DiskStore(workdir / "objects", "http://127.0.0.1:8700", os.urandom(32))
        disk.ensure_bucket(bucket)
        ways = {
            "boto3": _Raw(make_s3_client(moto.settings)),
            "s3": _Port(s3_store),
            "disk": _Port(disk),
        }
        best: dict[str, dict[str, float]] = {name: {} for name in ways}
        for number in range(1, rounds + 1):
            for name, way in ways.items():
                keys = [
                    rendition_key(f"bench-{tag}-{number}-{name}", n, "medium", version, "webp")
                    for n in range(1, objects + 1)
                ]
                rates = _round(way, bucket, keys, str(source), sha)
                for op, rate in rates.items():
                    best[name][op] = max(best[name].get(op, 0.0), rate)
                say(
                    f"round {number} {name:>5}: "
                    + ", ".join(f"{op} {rates[op]:,.0f}/s" for op in OPS)
                )
    figures: dict[str, Any] = {"objects": objects, "rounds": rounds, "bytes": SIZE}
    for name, rates in best.items():
        for op in OPS:
            figures[f"{name}_{op}_per_s"] = round(rates[op], 1)
    for op in OPS:
        figures[f"s3_vs_boto3_{op}"] = round(best["s3"][op] / best["boto3"][op], 3)
        figures[f"disk_vs_s3_{op}"] = round(best["disk"][op] / best["s3"][op], 2)
    return figures


def register(bench_app: typer.Typer) -> None:
    @bench_app.command("store")
    def bench_store(
        objects: Annotated[int, typer.Option(min=10, help="Objects per round and way")] = 500,
        rounds: Annotated[int, typer.Option(min=1, help="Alternating rounds; best counts")] = 3,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """The object stores' five operations: raw boto3 vs S3Store vs DiskStore, same run."""
        say = (lambda *a: print(*a, file=sys.stderr)) if as_json else print
        figures = run_bench(objects, rounds, say)
        if not as_json:
            for op in OPS:
                say(
                    f"{op:>6}: boto3 {figures[f'boto3_{op}_per_s']:>9,.0f}/s   "
                    f"S3Store {figures[f's3_{op}_per_s']:>9,.0f}/s "
                    f"({figures[f's3_vs_boto3_{op}']:.3f}x)   "
                    f"DiskStore {figures[f'disk_{op}_per_s']:>9,.0f}/s"
                )
        print(json.dumps(figures))

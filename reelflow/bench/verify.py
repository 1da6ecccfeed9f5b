"""`reelflow bench verify`: how fast verify checks stored objects, against a plain HEAD loop.

Seeds N small objects (with the sha256 metadata uploads store) into a fresh bucket on a local
moto server started here, and stored asset rows for all of them in a throwaway SQLite
database (or DATABASE_URL's database: rows under a unique movie prefix, removed afterwards);
then deletes 1% of the objects behind the database's back. In the same run:

  baseline   a plain sequential loop: one HEAD per stored object, sha256 compared
  verify     flows.common.verifying.verify_objects exactly as the verify flow runs it (a
             listing of each batch's key range, concurrent HEADs for the sha256), dry run,
             with the tasks' plain functions, i.e. without Prefect orchestration
  size-only  the same with --size-only: listings only, no HEAD

Figures (one JSON line, last): objects/s of each and the ratios to the baseline. Every mode
must find exactly the deleted objects.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from reelflow.bench.harness import local_s3, seeding_client
from reelflow.bench.sweep import layout, remove_rows, seed_rows, timed

if TYPE_CHECKING:
    from reelflow.adapters.storage import ObjectStore

BODY = b"x" * 64
SHA = hashlib.sha256(BODY).hexdigest()


def seed_objects(client: Any, bucket: str, keys: list[str], threads: int) -> float:
    started = time.perf_counter()

    def put(key: str) -> None:
        client.put_object(Bucket=bucket, Key=key, Body=BODY, Metadata={"sha256": SHA})

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(put, keys))
    return time.perf_counter() - started


def head_loop(store: ObjectStore, bucket: str, keys: list[str]) -> int:
    """The baseline: one HEAD after the other; returns how many are missing or differ."""
    found = (store.head(bucket, key) for key in keys)
    return sum(1 for info in found if info is None or info.sha256 != SHA)


def register(bench_app: typer.Typer) -> None:
    @bench_app.command("verify")
    def bench_verify(
        objects: Annotated[int, typer.Option(min=100, help="Stored objects to seed")] = 10_000,
        seed_threads: Annotated[int, typer.Option(min=1, help="Concurrent seeding PUTs")] = 32,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Objects/s verify checks (listing + concurrent HEADs), against a sequential HEAD loop."""
        from sqlalchemy import update

        from flows.common.verifying import Steps, verify_objects
        from reelflow.adapters.db.schema import Asset
        from reelflow.adapters.storage import MAX_DELETE_BATCH
        from reelflow.core.reports import VerifyReport
        from reelflow.services import resources
        from tasks.verify import list_ranges, load_stored, mark_unverified, verify_stored

        say = (lambda *a: print(*a, file=sys.stderr)) if as_json else print
        workdir = Path(tempfile.mkdtemp(prefix="reelflow-bench-verify-"))
        tag = f"bench{uuid.uuid4().hex[:8]}"
        bucket = f"{tag}-verify"
        with local_s3(workdir, bucket) as moto:
            settings, engine = moto.settings, moto.engine
            store = resources.store()
            store.ensure_bucket(bucket)

            keys, _, movies = layout(objects, 1.0, tag)
            put_client = seeding_client(settings, seed_threads)
            say(f"seeding {objects} objects of {movies} movies, {seed_threads} threads ...")
            seed_seconds = seed_objects(put_client, bucket, keys, seed_threads)
            seed_rows(engine, bucket, keys)
            with engine.begin() as conn:
                conn.execute(update(Asset).where(Asset.key.in_(keys)).values(sha256=SHA))
            lost = keys[:: max(1, len(keys) // max(1, objects // 100))][: objects // 100]
            for start in range(0, len(lost), MAX_DELETE_BATCH):
                store.delete(bucket, lost[start : start + MAX_DELETE_BATCH])
            say(f"seeded in {seed_seconds:.1f}s; {len(lost)} objects deleted behind its back")

            steps = Steps(
                load=load_stored.fn,
                listing=list_ranges.fn,
                heads=verify_stored.fn,
                mark=mark_unverified.fn,
            )

            def run(size_only: bool) -> VerifyReport:
                report = VerifyReport(bucket=bucket, dry_run=True, sha256=not size_only)
                return verify_objects(
                    report,
                    execute=False,
                    movie_id=None,
                    limit=objects,
                    size_only=size_only,
                    batch_size=1000,
                    progress=None,
                    steps=steps,
                )

            try:
                say("baseline: one HEAD after the other ...")
                base_seconds, base_found = timed(lambda: head_loop(store, bucket, keys))
                say("verify: a listing per batch + concurrent HEADs ...")
                verify_seconds, full = timed(lambda: run(False))
                say("verify --size-only: listings only ...")
                size_seconds, sized = timed(lambda: run(True))
            finally:
                if not moto.own_db:
                    remove_rows(engine, tag)
                resources.dispose()
        shutil.rmtree(workdir, ignore_errors=True)

        assert base_found == full.missing == sized.missing == len(lost), (
            base_found,
            full.missing,
            sized.missing,
        )
        assert full.checked == sized.checked == objects
        result = {
            "bench": "verify",
            "objects": objects,
            "movies": movies,
            "missing": len(lost),
            "database": engine.dialect.name,
            "baseline_seconds": round(base_seconds, 3),
            "baseline_objects_per_second": round(objects / base_seconds, 1),
            "seconds": round(verify_seconds, 3),
            "objects_per_second": round(objects / verify_seconds, 1),
            "ratio_to_baseline": round(base_seconds / verify_seconds, 2),
            "list_requests": full.listings,
            "head_requests": full.heads,
            "size_only_seconds": round(size_seconds, 3),
            "size_only_objects_per_second": round(objects / size_seconds, 1),
            "size_only_ratio_to_baseline": round(base_seconds / size_seconds, 2),
            "seed_seconds": round(seed_seconds, 2),
            "cores": os.cpu_count(),
        }
        print(json.dumps(result))

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
from typing import Annotated, Any

import typer

from reelflow.bench.sweep import layout, remove_rows, seed_rows, timed

BODY = b"x" * 64
SHA = hashlib.sha256(BODY).hexdigest()


def seed_objects(client: Any, bucket: str, keys: list[str], threads: int) -> float:
    started = time.perf_counter()

    def put(key: str) -> None:
        client.put_object(Bucket=bucket, Key=key, Body=BODY, Metadata={"sha256": SHA})

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(put, keys))
    return time.perf_counter() - started


def head_loop(client: Any, bucket: str, keys: list[str]) -> int:
    """The baseline: one HEAD after the other; returns how many are missing or differ."""
    from reelflow.adapters.s3 import head_sha256

    return sum(1 for key in keys if head_sha256(client, bucket, key) != SHA)


def register(bench_app: typer.Typer) -> None:
    @bench_app.command("verify")
    def bench_verify(
        objects: Annotated[int, typer.Option(min=100, help="Stored objects to seed")] = 10_000,
        seed_threads: Annotated[int, typer.Option(min=1, help="Concurrent seeding PUTs")] = 32,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Objects/s verify checks (listing + concurrent HEADs), against a sequential HEAD loop."""
        import boto3
        from botocore.config import Config
        from sqlalchemy import update

        from flows.common.verifying import Steps, verify_objects
        from reelflow.adapters import s3
        from reelflow.adapters.db import migrate
        from reelflow.adapters.db.schema import Asset
        from reelflow.core.reports import VerifyReport
        from reelflow.devtools.s3server import MotoServer
        from reelflow.services import resources
        from reelflow.settings import get_settings, reset_settings
        from tasks.verify import list_ranges, load_stored, mark_unverified, verify_stored

        say = (lambda *a: print(*a, file=sys.stderr)) if as_json else print
        workdir = Path(tempfile.mkdtemp(prefix="reelflow-bench-verify-"))
        tag = f"bench{uuid.uuid4().hex[:8]}"
        bucket = f"{tag}-verify"
        own_db = "DATABASE_URL" not in os.environ
        with MotoServer(log=workdir / "moto.log") as moto:
            os.environ.update(
                {
                    "S3_ENDPOINT": moto.endpoint,
                    "S3_ACCESS_KEY_ID": "bench",
                    "S3_SECRET_ACCESS_KEY": "bench-secret",
                    "S3_BUCKET_NAME": bucket,
                }
            )
            if own_db:
                os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.db'}"
            reset_settings()
            resources.dispose()
            settings = get_settings()
            engine = resources.engine()
            migrate.upgrade(engine)
            client = resources.s3_client()
            s3.ensure_bucket(client, bucket)

            keys, _, movies = layout(objects, 1.0, tag)
            put_client = boto3.client(
                "s3",
                endpoint_url=moto.endpoint,
                region_name=settings.s3_region,
                aws_access_key_id="bench",
                aws_secret_access_key="bench-secret",  # noqa: S106 - local moto only
                config=Config(
                    s3={"addressing_style": "path"},
                    max_pool_connections=seed_threads * 2,
                    retries={"total_max_attempts": 5, "mode": "standard"},
                ),
            )
            say(f"seeding {objects} objects of {movies} movies, {seed_threads} threads ...")
            seed_seconds = seed_objects(put_client, bucket, keys, seed_threads)
            seed_rows(engine, bucket, keys)
            with engine.begin() as conn:
                conn.execute(update(Asset).where(Asset.key.in_(keys)).values(sha256=SHA))
            lost = keys[:: max(1, len(keys) // max(1, objects // 100))][: objects // 100]
            for key in lost:
                client.delete_object(Bucket=bucket, Key=key)
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
                base_seconds, base_found = timed(lambda: head_loop(client, bucket, keys))
                say("verify: a listing per batch + concurrent HEADs ...")
                verify_seconds, full = timed(lambda: run(False))
                say("verify --size-only: listings only ...")
                size_seconds, sized = timed(lambda: run(True))
            finally:
                if not own_db:
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

"""`reelflow bench sweep`: the orphan sweep's listing + diff path against N objects.

Seeds N tiny objects into a fresh bucket on a local moto server started here (concurrent PUTs;
seeding time reported apart), and asset rows + episode URLs for most of them (`--referenced`)
in a throwaway SQLite database (or DATABASE_URL's database when set: rows under a unique
bucket and movie prefix, removed afterwards). Then, in the same run:

  baseline   the raw ListObjectsV2 pagination of the managed prefixes (boto3 paginator),
             nothing else: the rate moto + botocore allow at all
  sweep      the sweep's pass 1 exactly as orphan_cleanup runs it (flows.orphan_cleanup
             .take_census: list page, one DB query per page, classify into tallies), called
             with the tasks' plain functions, i.e. without Prefect orchestration;
             diff_seconds is the part of it not spent waiting for a listing page (the DB
             query and the classification: the sweep's own cost, moto's listing excluded)
  flow       (unless --no-flow) the orphan-cleanup flow itself, dry run, through Prefect

Figures (one JSON line, last): objects, seconds and objects/s of each, ratio sweep/baseline,
seeding seconds, and memory: RSS before the sweep, peak RSS during it (sampled every 10 ms
from /proc) and the growth, plus the process's peak RSS (getrusage). Memory should not grow
with N: the sweep holds one page and a few tallies, never the key list.
"""

from __future__ import annotations

import json
import math
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any

import typer

from reelflow.bench.harness import local_s3, seeding_client

EPISODES_PER_MOVIE = 13


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # not Linux: fall back to the peak so far
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class RssSampler:
    """Peak resident memory while the block runs (sampled every `interval` seconds)."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.before = self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, _rss_mb())

    def __enter__(self) -> RssSampler:
        self.before = self.peak = _rss_mb()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mb())


def layout(objects: int, referenced: float, tag: str) -> tuple[list[str], list[str], int]:
    """(keys recorded in the database, orphan keys, movies): 26 keys per movie."""
    from reelflow.core.keys import asset_key

    recorded_target = round(objects * referenced)
    recorded: list[str] = []
    orphans: list[str] = []
    movies = math.ceil(objects / (2 * EPISODES_PER_MOVIE))
    for m in range(movies):
        for n in range(1, EPISODES_PER_MOVIE + 1):
            for kind, ext in (("thumbnail", "webp"), ("preview", "webm")):
                if len(recorded) + len(orphans) == objects:
                    break
                key = asset_key(kind, f"{tag}-m{m}", n, ext)  # type: ignore[arg-type]
                (recorded if len(recorded) < recorded_target else orphans).append(key)
    return recorded, orphans, movies


def seed_objects(client: Any, bucket: str, keys: list[str], threads: int) -> float:
    body = b"x" * 64
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for _ in pool.map(lambda k: client.put_object(Bucket=bucket, Key=k, Body=body), keys):
            pass
    return time.perf_counter() - started


def seed_rows(engine: Any, bucket: str, keys: list[str]) -> float:
    """Movies, episodes (with s3:// URLs) and stored asset rows for `keys`."""
    from sqlalchemy import insert, select

    from reelflow.adapters.db.schema import Asset, Episode, Movie, utcnow
    from reelflow.core.keys import s3_url

    started = time.perf_counter()
    now = utcnow()
    episodes: dict[tuple[str, int], dict[str, Any]] = {}
    for key in keys:
        prefix, movie, name = key.split("/")
        number = int(name[2:].split("_")[0])
        row = episodes.setdefault(
            (movie, number),
            {
                "movie_id": movie,
                "number": number,
                "title": "",
                "created_at": now,
                "updated_at": now,
            },
        )
        column = "thumbnail_url" if prefix == "episode-thumbnails" else "video_preview_url"
        row[column] = s3_url(bucket, key)
    movies = sorted({movie for movie, _ in episodes})
    with engine.begin() as conn:
        conn.execute(
            insert(Movie),
            [{"id": m, "title": "", "created_at": now, "updated_at": now} for m in movies],
        )
        rows = list(episodes.values())
        for row in rows:
            row.setdefault("thumbnail_url", None)
            row.setdefault("video_preview_url", None)
        conn.execute(insert(Episode), rows)
        ids = {
            (r.movie_id, r.number): r.id
            for r in conn.execute(
                select(Episode.movie_id, Episode.number, Episode.id).where(
                    Episode.movie_id.in_(movies)
                )
            )
        }
        assets = []
        for key in keys:
            prefix, movie, name = key.split("/")
            number = int(name[2:].split("_")[0])
            assets.append(
                {
                    "episode_id": ids[(movie, number)],
                    "kind": "thumbnail" if prefix == "episode-thumbnails" else "preview",
                    "status": "stored",
                    "bucket": bucket,
                    "key": key,
                    "bytes": 64,
                    "attempts": 1,
                    "created_at": now,
                    "updated_at": now,
                    "stored_at": now,
                }
            )
        for start in range(0, len(assets), 5000):
            conn.execute(insert(Asset), assets[start : start + 5000])
    return time.perf_counter() - started


def remove_rows(engine: Any, tag: str) -> None:
    from sqlalchemy import delete

    from reelflow.adapters.db.schema import Movie

    with engine.begin() as conn:
        conn.execute(delete(Movie).where(Movie.id.startswith(f"{tag}-", autoescape=True)))


def baseline(client: Any, bucket: str) -> int:
    """The raw pagination: every page of both managed prefixes, counted, nothing else."""
    from reelflow.core.keys import MANAGED_PREFIXES

    listed = 0
    paginator = client.get_paginator("list_objects_v2")
    for prefix in MANAGED_PREFIXES:
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            listed += len(page.get("Contents", ()))
    return listed


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def register(bench_app: typer.Typer) -> None:
    @bench_app.command("sweep")
    def bench_sweep(
        objects: Annotated[int, typer.Option(min=1, help="Objects to seed")] = 10_000,
        referenced: Annotated[
            float, typer.Option(min=0.0, max=1.0, help="Share of objects with asset rows")
        ] = 0.95,
        seed_threads: Annotated[int, typer.Option(min=1, help="Concurrent seeding PUTs")] = 32,
        flow: Annotated[
            bool, typer.Option("--flow/--no-flow", help="Also time the flow through Prefect")
        ] = True,
        repeat: Annotated[
            int, typer.Option(min=1, help="Rounds of baseline + sweep; the best of each counts")
        ] = 1,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Listing + diff rate of the orphan sweep over N objects, against the raw listing."""
        import datetime as dt

        from flows.common.sweeping import take_census
        from reelflow.adapters.storage.s3_client import make_s3_client
        from reelflow.core.sweep import cutoff_for
        from reelflow.services import resources
        from tasks.sweep import count_references, list_objects_page, lookup_references

        say = (lambda *a: print(*a, file=sys.stderr)) if as_json else print
        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        workdir = Path(tempfile.mkdtemp(prefix="reelflow-bench-sweep-"))
        tag = f"bench{uuid.uuid4().hex[:8]}"
        bucket = f"{tag}-sweep"
        with local_s3(workdir, bucket) as moto:
            settings, engine = moto.settings, moto.engine
            resources.store().ensure_bucket(bucket)
            client = make_s3_client(settings)  # the baseline's: boto3's paginator, nothing else

            recorded, orphans, _movies = layout(objects, referenced, tag)
            say(f"seeding {objects} objects ({len(orphans)} orphans), {seed_threads} threads ...")
            put_client = seeding_client(settings, seed_threads)
            seed_seconds = seed_objects(put_client, bucket, recorded + orphans, seed_threads)
            rows_seconds = seed_rows(engine, bucket, recorded)
            say(f"seeded in {seed_seconds:.1f}s (+{rows_seconds:.1f}s of rows)")

            cutoff = cutoff_for(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1), 0)
            try:
                references = count_references.fn(bucket)
                pages: list[int] = []

                waits: list[float] = []

                class Waited:
                    """A listing future that records how long the sweep waited for it."""

                    def __init__(self, future: Any) -> None:
                        self.future = future

                    def result(self) -> Any:
                        started = time.perf_counter()
                        page = self.future.result()
                        waits.append(time.perf_counter() - started)
                        return page

                def submit(b: str, prefix: str, token: str | None) -> Any:
                    pages.append(1)
                    return Waited(lister.submit(list_objects_page.fn, b, prefix, token))

                base_runs: list[float] = []
                sweep_runs: list[float] = []
                diff_runs: list[float] = []  # sweep time not spent waiting for a listing
                for round_ in range(repeat):
                    say(f"[{round_ + 1}/{repeat}] baseline: raw ListObjectsV2 pagination ...")
                    seconds, base_listed = timed(lambda: baseline(client, bucket))
                    base_runs.append(seconds)
                    say(f"[{round_ + 1}/{repeat}] sweep: list + one query per page + classify ...")
                    pages.clear()
                    waits.clear()
                    with ThreadPoolExecutor(2) as lister, RssSampler() as rss:
                        seconds, census = timed(
                            lambda: take_census(
                                bucket, cutoff, submit=submit, lookup=lookup_references.fn
                            )
                        )
                    sweep_runs.append(seconds)
                    diff_runs.append(seconds - sum(waits))
                base_seconds, sweep_seconds = min(base_runs), min(sweep_runs)
                diff_seconds = min(diff_runs)
                flow_seconds = None
                if flow:
                    from flows.orphan_cleanup import orphan_cleanup
                    from reelflow.bench.importer import warm_prefect

                    say("flow: orphan-cleanup dry run through Prefect ...")
                    warm_prefect()
                    flow_seconds, state = timed(
                        lambda: orphan_cleanup(return_state=True, grace_hours=0)
                    )
                    report = state.result(raise_on_failure=False)
                    assert getattr(report, "listed", None) == objects, report
            finally:
                if not moto.own_db:
                    remove_rows(engine, tag)
                resources.dispose()
        shutil.rmtree(workdir, ignore_errors=True)

        assert base_listed == census.listed == objects, (base_listed, census.listed)
        assert census.count("orphan") == len(orphans) and census.count("live") == len(recorded)
        result: dict[str, Any] = {
            "bench": "sweep",
            "objects": objects,
            "orphans": census.count("orphan"),
            "referenced_in_db": references,
            "database": engine.dialect.name,
            "seed_seconds": round(seed_seconds, 2),
            "seed_objects_per_second": round(objects / seed_seconds, 1),
            "baseline_seconds": round(base_seconds, 3),
            "baseline_objects_per_second": round(objects / base_seconds, 1),
            "seconds": round(sweep_seconds, 3),
            "objects_per_second": round(objects / sweep_seconds, 1),
            "ratio_to_baseline": round(base_seconds / sweep_seconds, 3),
            "rounds": repeat,
            "diff_seconds": round(diff_seconds, 3),
            "diff_objects_per_second": round(objects / diff_seconds, 1),
            "pages": len(pages),
            "rss_before_sweep_mb": round(rss.before, 1),
            "peak_rss_during_sweep_mb": round(rss.peak, 1),
            "rss_growth_during_sweep_mb": round(rss.peak - rss.before, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "cores": os.cpu_count(),
        }
        if flow_seconds is not None:
            result["flow_seconds"] = round(flow_seconds, 3)
            result["flow_objects_per_second"] = round(objects / flow_seconds, 1)
        print(json.dumps(result))

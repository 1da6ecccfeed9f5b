"""`reelflow bench orchestration`: what Prefect costs around assets that cost almost nothing.

Every asset is a tiny thumbnail (96x54 JPEG, ~2 KB) from a local origin with no modelled
latency, stored in local S3 (moto) and recorded in the database: the media work is ~1-3 ms, so
what is left is orchestration. The same assets run three ways in one process, one after the
other, each on its own movie (nothing is skipped as already stored):

  plain      the same step functions on a thread pool of REELFLOW_IMPORT_CONCURRENCY: no Prefect
  chunked    the import flow as it runs (chunks: one task run per ~2 s of work)
  per_asset  the import flow's code with every chunk one asset long: one task run per asset,
             as reelflow ran before chunks (on at most --per-asset-max assets: it is slow)

Figures per way: assets/s, its ratio to plain, Prefect task runs per asset (read back from
the API), Prefect API calls per asset (HTTP requests counted at httpx's transports, to the
API's port, plus the events Prefect 3 sends over its websocket for task run states),
and peak RSS while it ran (sampled every 50 ms, since the process holds all three ways).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from reelflow.bench.importer import CdnModel, OriginProcess, warm_prefect

THUMBS = 8


@contextmanager
def peak_rss() -> Iterator[dict[str, float]]:
    """{"mb": peak resident MB of this process while the block ran}, sampled every 50 ms."""
    found = {"mb": 0.0}
    stop = threading.Event()

    def sample() -> None:
        while True:
            with open("/proc/self/statm") as statm:
                pages = int(statm.read().split()[1])
            found["mb"] = max(found["mb"], pages * os.sysconf("SC_PAGE_SIZE") / 2**20)
            if stop.wait(0.05):
                return

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        stop.set()
        thread.join()


@contextmanager
def api_requests(port: int) -> Iterator[list[int]]:
    """[HTTP requests, events] this process sends Prefect's API (localhost:`port`) in the block:
    requests counted at httpx's transports, which every Prefect client goes through; events
    (task run states go over the events websocket in Prefect 3) at Prefect's events worker."""
    import httpx
    from prefect.events.worker import EventsWorker

    count = [0, 0]
    handle_event = EventsWorker._handle

    async def counted_event(self: Any, event: Any) -> Any:
        count[1] += 1
        return await handle_event(self, event)

    sync_send = httpx.HTTPTransport.handle_request
    async_send = httpx.AsyncHTTPTransport.handle_async_request

    def counted_sync(self: Any, request: httpx.Request) -> Any:
        if request.url.port == port:
            count[0] += 1
        return sync_send(self, request)

    async def counted_async(self: Any, request: httpx.Request) -> Any:
        if request.url.port == port:
            count[0] += 1
        return await async_send(self, request)

    EventsWorker._handle = counted_event  # type: ignore[method-assign]
    httpx.HTTPTransport.handle_request = counted_sync  # type: ignore[method-assign]
    httpx.AsyncHTTPTransport.handle_async_request = counted_async  # type: ignore[method-assign]
    try:
        yield count
    finally:
        EventsWorker._handle = handle_event  # type: ignore[method-assign]
        httpx.HTTPTransport.handle_request = sync_send  # type: ignore[method-assign]
        httpx.AsyncHTTPTransport.handle_async_request = async_send  # type: ignore[method-assign]


def manifest(base: str, movie_id: str, assets: int) -> dict[str, Any]:
    return {
        "movie_id": movie_id,
        "title": "Orchestration bench",
        "episodes": [
            {"number": n, "thumbnail_url": f"{base}/e/{n}/thumb.jpg"} for n in range(1, assets + 1)
        ],
    }


def count_task_runs(flow_run_id: Any, settle_seconds: float = 60.0) -> int:
    """The flow run's task runs as the server has them. Prefect 3 records task runs from
    events, behind the run: count until the figure holds still for 3 s (at most
    `settle_seconds`), or a recorder still catching up would be read as fewer task runs."""
    from prefect import get_client

    body = {"flow_runs": {"id": {"any_": [str(flow_run_id)]}}}
    last, steady_since = -1, time.monotonic()
    deadline = time.monotonic() + settle_seconds
    with get_client(sync_client=True) as client:
        while True:
            count = int(client._client.post("/task_runs/count", json=body).json())
            now = time.monotonic()
            if count != last:
                last, steady_since = count, now
            elif now - steady_since >= 3.0 or now > deadline:
                return count
            time.sleep(0.5)


def run_import_flow(data: dict[str, Any], chunk_max: int | None) -> tuple[float, Any, Any]:
    """(seconds, summary, flow run id): the import flow in this process; chunk_max 1 makes
    every chunk one asset (one task run per asset)."""
    from flows.import_episodes import import_episodes
    from reelflow.core.manifest import parse_manifest
    from reelflow.services.manifests import stash_manifest
    from reelflow.settings import reset_settings

    previous = os.environ.get("REELFLOW_CHUNK_MAX_ASSETS")
    if chunk_max is not None:
        os.environ["REELFLOW_CHUNK_MAX_ASSETS"] = str(chunk_max)
        reset_settings()
    try:
        started = time.perf_counter()
        ref = stash_manifest(parse_manifest(data))
        state = import_episodes(manifest_ref=ref, return_state=True)
        seconds = time.perf_counter() - started
    finally:
        if chunk_max is not None:
            if previous is None:
                os.environ.pop("REELFLOW_CHUNK_MAX_ASSETS", None)
            else:
                os.environ["REELFLOW_CHUNK_MAX_ASSETS"] = previous
            reset_settings()
    return seconds, state.result(raise_on_failure=False), state.state_details.flow_run_id


def measure(
    name: str, assets: int, port: int, run: Callable[[], tuple[float, int, Any]]
) -> dict[str, Any]:
    """Run one way; its figures. `run` returns (seconds, assets stored, flow run id or None)."""
    with peak_rss() as rss, api_requests(port) as calls:
        seconds, stored, flow_run_id = run()
    task_runs = count_task_runs(flow_run_id) if flow_run_id is not None else 0
    return {
        "way": name,
        "assets": assets,
        "stored": stored,
        "seconds": round(seconds, 2),
        "assets_per_second": round(assets / seconds, 1),
        "task_runs_per_asset": round(task_runs / assets, 4),
        "api_calls_per_asset": round(sum(calls) / assets, 3),
        "http_requests": calls[0],
        "events": calls[1],
        "peak_rss_mb": round(rss["mb"], 1),
    }


def register(bench_app: typer.Typer) -> None:
    @bench_app.command("orchestration")
    def bench_orchestration(
        assets: Annotated[int, typer.Option(help="Assets (tiny thumbnails) per way")] = 2000,
        per_asset_max: Annotated[
            int, typer.Option(help="Assets for the one-task-run-per-asset way (0: skip it)")
        ] = 1000,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Orchestration alone: tiny assets through reelflow's chunks, through one task run per
        asset, and through the same step functions with no Prefect, in one run."""
        from reelflow.bench.harness import local_s3
        from reelflow.bench.importer import run_plain
        from reelflow.devtools.media import photo_jpeg
        from reelflow.services import resources
        from reelflow.settings import get_settings

        if not 1 <= assets <= 20_000:
            raise typer.BadParameter("between 1 and 20000 (one manifest)", param_hint="--assets")
        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        say = (lambda *a: print(*a, file=sys.stderr)) if as_json else print
        workdir = Path(tempfile.mkdtemp(prefix="reelflow-bench-orch-"))
        thumbs = []
        for i in range(THUMBS):
            path = workdir / f"tiny{i}.jpg"
            path.write_bytes(photo_jpeg(96, 54, seed=i, quality=85))
            thumbs.append(path)
        model = CdnModel(latency_ms=0.0, bandwidth_mb_s=10_000.0, connections=256)
        results = []
        # Read when local_s3 resets the settings: loopback origins allowed, spool in workdir.
        os.environ["REELFLOW_FETCH_ALLOW"] = "127.0.0.1"
        os.environ["REELFLOW_SPOOL_DIR"] = str(workdir)
        with (
            local_s3(workdir, "bench") as s3,
            OriginProcess(thumbs, thumbs[:1], assets, model) as base,
        ):
            settings = s3.settings
            resources.store().ensure_bucket(settings.s3_bucket_name)
            warm_prefect()
            from prefect import get_client

            with get_client(sync_client=True) as client:
                port = client.api_url.port or -1

            say(f"plain: {assets} assets, {settings.import_concurrency} threads, no Prefect ...")

            def plain() -> tuple[float, int, Any]:
                seconds, ok = run_plain(manifest(base, "orch-plain", assets))
                return seconds, ok, None

            results.append(measure("plain", assets, port, plain))

            say(f"chunked: the import flow, {assets} assets ...")

            def chunked() -> tuple[float, int, Any]:
                seconds, summary, run_id = run_import_flow(
                    manifest(base, "orch-chunked", assets), None
                )
                return seconds, summary.stored, run_id

            results.append(measure("chunked", assets, port, chunked))
            if per_asset_max:
                few = min(assets, per_asset_max)
                say(f"per_asset: one task run per asset, {few} assets ...")

                def per_asset() -> tuple[float, int, Any]:
                    seconds, summary, run_id = run_import_flow(
                        manifest(base, "orch-per-asset", few), 1
                    )
                    return seconds, summary.stored, run_id

                results.append(measure("per_asset", few, port, per_asset))
        plain_rate = results[0]["assets_per_second"]
        for row in results:
            row["of_plain"] = round(row["assets_per_second"] / plain_rate, 3)
        say("")
        say(
            f"{'way':<10} {'assets':>7} {'s':>8} {'assets/s':>9} {'of plain':>9} "
            f"{'runs/asset':>11} {'API/asset':>10} {'RSS MB':>7}"
        )
        for row in results:
            say(
                f"{row['way']:<10} {row['assets']:>7} {row['seconds']:>8} "
                f"{row['assets_per_second']:>9} {row['of_plain']:>9} "
                f"{row['task_runs_per_asset']:>11} {row['api_calls_per_asset']:>10} "
                f"{row['peak_rss_mb']:>7}"
            )
        print(
            json.dumps(
                {
                    "bench": "orchestration",
                    "import_concurrency": get_settings().import_concurrency,
                    "cores": os.cpu_count(),
                    "ways": results,
                }
            )
        )

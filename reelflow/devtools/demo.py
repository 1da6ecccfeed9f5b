"""`make demo`: the import flow on zero-config defaults, against local services.

- S3: moto's server, started once in the background and reused by later demos (state in
  .reelflow/), so a second demo finds its objects and uploads nothing new;
- origin: a local HTTP server in this process serving generated JPEG thumbnails and WebM
  previews, and for the last two episodes only a full-length video (90 s: a black intro,
  scene changes, audio) from which reelflow cuts the preview clip and takes the poster
  (cached in .reelflow/media so every demo serves the same bytes);
- database: the default SQLite file; Prefect: its local (ephemeral) API unless PREFECT_API_URL
  is set.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from deployments.local_stack import alive, start_ticks
from reelflow.adapters.db import migrate
from reelflow.adapters.storage import ObjectStore
from reelflow.core.keys import MANAGED_PREFIXES
from reelflow.core.manifest import Manifest, parse_manifest
from reelflow.devtools.media import full_video, photo_jpeg, preview_webm
from reelflow.devtools.origin import Origin
from reelflow.devtools.s3server import free_port
from reelflow.services import resources
from reelflow.settings import get_settings, reset_settings

STATE_DIR = Path(".reelflow")
MOVIE_ID = "demo-movie"


def _alive(endpoint: str) -> bool:
    try:
        httpx.get(f"{endpoint}/moto-api/", timeout=1.0, trust_env=False)
        return True
    except httpx.TransportError:
        return False


def ensure_s3(state_dir: Path = STATE_DIR) -> str:
    """The endpoint of the demo's moto server, starting it in the background if needed."""
    state_file = state_dir / "s3.json"
    if state_file.exists():
        endpoint = json.loads(state_file.read_text())["endpoint"]
        if _alive(endpoint):
            return str(endpoint)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = open(state_dir / "s3.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while not _alive(endpoint):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"local S3 (moto) did not start; see {state_dir / 's3.log'}")
        time.sleep(0.1)
    record = {"endpoint": endpoint, "pid": proc.pid, "start": start_ticks(proc.pid)}
    state_file.write_text(json.dumps(record))
    return endpoint


def stop_s3(state_dir: Path = STATE_DIR) -> bool:
    """`make demo-stop`: stop the demo's S3 endpoint, and only it (the local stack's S3 is
    recorded under .reelflow/stack/ and `reelflow down` stops it). True if it was running."""
    state_file = state_dir / "s3.json"
    if not state_file.exists():
        return False
    try:
        recorded = json.loads(state_file.read_text())
    except ValueError:
        recorded = {}
    state_file.unlink()
    entry = {"pid": recorded.get("pid"), "start": recorded.get("start")}
    if entry["pid"] is None or not alive(entry):  # gone, or its pid now someone else's
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(int(entry["pid"]), signal.SIGTERM)
    return True


# The last episodes have only a full-length video (video_url): reelflow cuts their preview
# clip and takes their poster from it.
VIDEO_EPISODES = 2
VIDEO_SECONDS = 90.0


def full_videos(count: int, episodes: int, media_dir: Path) -> dict[int, bytes]:
    """Full-length episodes (a black intro, scene changes, an audio track) for the last
    `count` of `episodes`, generated once and kept on disk."""
    media_dir.mkdir(parents=True, exist_ok=True)
    found = {}
    for number in range(max(1, episodes - count + 1), episodes + 1):
        path = media_dir / f"ep{number}-full.mp4"
        full_video(path, VIDEO_SECONDS, 854, 480, black_intro=5.0, seed=number)
        found[number] = path.read_bytes()
    return found


def sample_media(count: int, media_dir: Path) -> list[tuple[bytes, bytes]]:
    """(thumbnail JPEG, preview WebM) per episode, generated once and kept on disk."""
    media_dir.mkdir(parents=True, exist_ok=True)
    pairs = []
    for number in range(1, count + 1):
        jpg, webm = media_dir / f"ep{number}.jpg", media_dir / f"ep{number}.webm"
        if not jpg.exists():
            jpg.write_bytes(photo_jpeg(seed=number))
        if not webm.exists():
            webm.write_bytes(preview_webm(seconds=2.0, seed=number))
        pairs.append((jpg.read_bytes(), webm.read_bytes()))
    return pairs


def _origin_port(state_dir: Path) -> int:
    """Reuse the last demo's origin port, so the manifest's URLs stay the same."""
    state_file = state_dir / "origin.json"
    if state_file.exists():
        return int(json.loads(state_file.read_text())["port"])
    port = free_port()
    state_file.write_text(json.dumps({"port": port}))
    return port


@contextlib.contextmanager
def sandbox(episodes: int = 10, console: Console | None = None) -> Iterator[Manifest]:
    """Set up the demo (local S3, the default database migrated, the bucket, a local origin
    serving generated media) and yield the sample movie's manifest; the origin stops after.
    The caller (`reelflow demo`) runs the import and prints its table, then `report`."""
    console = console or Console()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    STATE_DIR.mkdir(exist_ok=True)
    endpoint = ensure_s3()
    os.environ.update(
        {
            "S3_ENDPOINT": endpoint,
            "S3_ACCESS_KEY_ID": "demo",
            "S3_SECRET_ACCESS_KEY": "demo-secret",
            "REELFLOW_FETCH_ALLOW": "127.0.0.1",
        }
    )
    reset_settings()
    settings = get_settings()
    console.print(f"local S3 endpoint: {endpoint} (bucket {settings.s3_bucket_name})")
    migrate.upgrade(resources.engine())
    console.print(f"database: {settings.safe_summary()['database_url']}", highlight=False)
    resources.store().ensure_bucket(settings.s3_bucket_name)

    console.print(f"preparing sample media for {episodes} episodes ...")
    media = sample_media(episodes, STATE_DIR / "media")
    videos = full_videos(VIDEO_EPISODES, episodes, STATE_DIR / "media")
    port = _origin_port(STATE_DIR)
    try:
        origin = Origin(port=port)
        origin.__enter__()
    except OSError:
        (STATE_DIR / "origin.json").unlink(missing_ok=True)
        origin = Origin(port=_origin_port(STATE_DIR))
        origin.__enter__()
    try:
        manifest_data: dict[str, Any] = {
            "movie_id": MOVIE_ID,
            "title": "Demo Movie",
            "episodes": [],
        }
        for number, (jpg, webm) in enumerate(media, start=1):
            if number in videos:
                origin.add(f"/cdn/{number}/episode.mp4", videos[number], "video/mp4")
                manifest_data["episodes"].append(
                    {
                        "number": number,
                        "title": f"Episode {number}",
                        "video_url": origin.url(f"/cdn/{number}/episode.mp4") + "?token=demo",
                    }
                )
                continue
            origin.add(f"/cdn/{number}/thumb.jpg", jpg, "image/jpeg")
            origin.add(f"/cdn/{number}/preview.webm", webm, "video/webm")
            manifest_data["episodes"].append(
                {
                    "number": number,
                    "title": f"Episode {number}",
                    "thumbnail_url": origin.url(f"/cdn/{number}/thumb.jpg") + "?token=demo",
                    "video_preview_url": origin.url(f"/cdn/{number}/preview.webm"),
                }
            )
        (STATE_DIR / "demo-manifest.json").write_text(json.dumps(manifest_data, indent=2))
        yield parse_manifest(manifest_data)
    finally:
        origin.__exit__(None, None, None)


def renditions(console: Console) -> None:
    """Each thumbnail as an app gets it: its rungs (size, format) and its placeholder."""
    from rich.table import Table

    from reelflow.services.urls import episode_media

    rows = episode_media(MOVIE_ID)
    names = [item["rung"] for item in rows[0]["renditions"]] if rows else []
    table = Table(title=f"what an app gets: `reelflow urls {MOVIE_ID}`")
    table.add_column("ep", justify="right")
    table.add_column(" ".join(names) or "renditions", no_wrap=True)
    table.add_column("placeholder: colour, ThumbHash", no_wrap=True)
    for row in rows:
        rungs = " ".join(
            f"{item['width']}x{item['height']}"
            + ("" if item["format"] == "webp" else f"({item['format']})")
            for item in row["renditions"]
        )
        placeholder = row["placeholder"]
        shown = (
            f"[on {placeholder['color']}]  [/] {placeholder['color']} {placeholder['thumbhash']}"
            if placeholder
            else "none"
        )
        table.add_row(str(row["episode"]), rungs or "none", shown)
    console.print(table)
    clips = [row for row in rows if row.get("preview") and row["preview"]["sources"]]
    if not clips:
        return
    videos = Table(title="cut from full-length videos: preview clip and poster")
    videos.add_column("ep", justify="right")
    videos.add_column("clip", no_wrap=True)
    videos.add_column("cut at", no_wrap=True)
    videos.add_column("poster", no_wrap=True)
    for row in clips:
        preview = row["preview"]
        clip = preview["sources"][0]
        videos.add_row(
            str(row["episode"]),
            f"{clip['format']} {clip['width']}x{clip['height']} {preview['seconds']:.1f}s muted",
            f"{preview['clip_start']:.1f}s of {preview['source_seconds']:.0f}s",
            " ".join(f"{r['width']}x{r['height']}" for r in row["renditions"]) or "none",
        )
    console.print(videos)


def _count(store: ObjectStore, bucket: str, prefix: str) -> int:
    """Objects under prefix, a listing page at a time."""
    count, token = 0, None
    while True:
        page = store.list_page(bucket, prefix, token)
        count += len(page.objects)
        token = page.next_token
        if token is None:
            return count


def report(uploaded: int, console: Console) -> None:
    """Where the demo's objects are, and what a second demo will do."""
    settings = get_settings()
    store = resources.store()
    count = sum(
        _count(store, settings.s3_bucket_name, f"{prefix}{MOVIE_ID}/")
        for prefix in MANAGED_PREFIXES
    )
    console.print(
        f"\nobjects: s3://{settings.s3_bucket_name}/episode-thumbnails/{MOVIE_ID}/ and "
        f"episode-previews/{MOVIE_ID}/ ({count} objects) at {settings.s3_endpoint}\n"
        f"manifest used: {STATE_DIR / 'demo-manifest.json'}\n"
        f"run `make demo` again: it uploads nothing new ({uploaded} uploaded this time)."
    )

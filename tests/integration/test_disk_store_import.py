"""An import on the disk store (REELFLOW_STORAGE=disk), end to end: the flow stores a movie in a
folder (nothing reaches S3), the media API hands out `/files/` URLs signed by the disk store,
and Debian's Chromium opens one through `reelflow serve` and decodes the image."""

from __future__ import annotations

import os
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

from reelflow.devtools.origin import Origin
from reelflow.services import reset, resources
from tests.support.api import READ, TOKENS, auth, running_api
from tests.support.movies import db_state, run_import, serve_movie
from tests.support.s3_client import s3_client

pytestmark = pytest.mark.usefixtures("prefect_server")
CHROMIUM = "/usr/bin/chromium"


def _tampered(url: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query["expires"] = str(int(query["expires"]) + 3600)  # a longer life than it was signed for
    return parts._replace(query=urlencode(query)).geturl()


def test_an_import_on_the_disk_store_ends_with_urls_a_browser_opens(env, monkeypatch, tmp_path):
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium is needed at {CHROMIUM} (Debian's chromium package)")
    root = tmp_path / "objects"
    monkeypatch.setenv("REELFLOW_STORAGE", "disk")
    monkeypatch.setenv("REELFLOW_DISK_ROOT", str(root))
    monkeypatch.setenv("REELFLOW_API_TOKENS", TOKENS)
    reset()
    with running_api() as base:
        # The API's address is known once it runs: the disk store signs URLs to it.
        monkeypatch.setenv("REELFLOW_DISK_URL_BASE", base)
        reset()
        bucket = env["S3_BUCKET_NAME"]
        assert resources.store().name == "disk"
        assert resources.store().ensure_bucket(bucket)
        with Origin() as origin:
            state, summary = run_import(serve_movie(origin, "mv-disk", 2))
        assert state.is_completed(), state.message
        assert summary.stored == 4 and summary.failed == 0

        _, assets = db_state("mv-disk")
        for asset in assets.values():
            assert asset.status == "stored"
            stored = root / asset.bucket / asset.key
            assert stored.is_file() and stored.stat().st_mode & 0o077 == 0, "private files"
        listed = s3_client().list_objects_v2(Bucket=bucket)
        assert listed.get("KeyCount", 0) == 0, "nothing went to S3"

        media = httpx.get(f"{base}/api/v1/movies/mv-disk/media", headers=auth(READ))
        assert media.status_code == 200, media.text
        episode = media.json()["episodes"][0]
        rendition = episode["renditions"][0]
        url = rendition["url"]
        assert url.startswith(f"{base}/files/{bucket}/episode-thumbnails/mv-disk/"), url
        assert "signature=" in url and "expires=" in url
        preview = episode["video_preview_url"]
        assert preview.startswith(f"{base}/files/{bucket}/episode-previews/mv-disk/"), preview

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
            )
            try:
                page = browser.new_page()
                page.set_default_timeout(60_000)
                opened = page.goto(url)
                assert opened is not None and opened.status == 200
                assert opened.headers["content-type"] == rendition["content_type"]
                # The page shows the image: the browser decoded it at the rendition's size.
                size = page.evaluate(
                    "() => { const i = document.querySelector('img');"
                    " return i && i.complete ? [i.naturalWidth, i.naturalHeight] : null; }"
                )
                assert size == [rendition["width"], rendition["height"]]
                refused = page.goto(_tampered(url))
                assert refused is not None and refused.status == 403
                video = page.goto(preview)
                assert video is not None and video.status == 200
            finally:
                browser.close()
    reset()

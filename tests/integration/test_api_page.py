"""The progress page at `/`, in Debian's Chromium (headless, Playwright driving it by its
executable path): a browser signs in with a read token, watches a running import's bar move
and ends on its final state. Its screenshot is kept in test-artifacts/ (and docs/ with
REELFLOW_UPDATE_DOCS_SCREENSHOT=1)."""

from __future__ import annotations

import os
import shutil
import threading

import httpx
import pytest

from reelflow.devtools.origin import Fault, Origin
from reelflow.settings import reset_settings
from tests.integration.test_api_live import run_id_of, tag_run
from tests.support.api import READ, TOKENS, running_api
from tests.support.e2e import ARTIFACTS, ROOT
from tests.support.movies import run_import, serve_movie

pytestmark = pytest.mark.usefixtures("prefect_server")
CHROMIUM = "/usr/bin/chromium"


def test_the_page_shows_an_import_live_to_a_signed_in_browser(env, redis_env, monkeypatch):
    from playwright.sync_api import expect, sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium is needed at {CHROMIUM} (Debian's chromium package)")
    monkeypatch.setenv("REELFLOW_API_TOKENS", TOKENS)
    reset_settings()
    with Origin() as origin, running_api() as base:
        anonymous = httpx.get(f"{base}/")
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"].startswith("Basic")
        # Every asset is held by the origin until the page shows the run: however long a cold
        # Chromium takes to start, the browser sees the run in flight, then moving.
        gate = threading.Event()
        data = serve_movie(origin, "mv-page", 3, every_asset=[Fault.hold(gate, times=1)])
        worker = threading.Thread(target=run_import, args=(data,))
        worker.start()
        run_id = run_id_of("mv-page")
        tag_run(run_id, "mv-page")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
            )
            try:
                context = browser.new_context(
                    http_credentials={"username": "reelflow", "password": READ},
                    viewport={"width": 900, "height": 640},
                )
                page = context.new_page()
                page.set_default_timeout(60_000)
                page.goto(f"{base}/?run={run_id}")
                expect(page.locator("#count")).to_contain_text("of 6 assets")
                moving = page.locator("#bar").evaluate("bar => bar.value")
                gate.set()
                worker.join(120)
                expect(page.locator("#state")).to_have_text("Completed")
                assert page.locator("#bar").evaluate("bar => bar.value") == 100
                assert moving < 100, "the bar was seen before the run ended"
                expect(page.locator("#assets li")).to_have_count(6)
                ARTIFACTS.mkdir(exist_ok=True)
                shot = ARTIFACTS / "api-progress-page.png"
                page.screenshot(path=str(shot))
                if os.environ.get("REELFLOW_UPDATE_DOCS_SCREENSHOT"):
                    shutil.copy(shot, ROOT / "docs" / "api-progress-page.png")
            finally:
                gate.set()
                browser.close()

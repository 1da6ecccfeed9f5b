"""The Prefect UI (served by the same `prefect server start`) shows a finished import: its state
and its progress artifact. Screenshots go to test-artifacts/; set REELFLOW_UPDATE_DOCS_SCREENSHOT=1
to also refresh docs/ui-import-run.png."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.e2e import ARTIFACTS, IMPORT_MOVIE, ROOT

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium is needed at {CHROMIUM} (Debian's chromium package)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def test_the_ui_shows_the_finished_import_and_its_progress(browser, prefect_api, finished_import):
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(30_000)
    try:
        page.goto(f"{prefect_api.ui_url}/runs/flow-run/{finished_import.run_id}")
        expect(page.get_by_text(f"import-{IMPORT_MOVIE}").first).to_be_visible()
        expect(page.get_by_text("Completed", exact=True).first).to_be_visible()

        page.get_by_text("Artifacts", exact=True).first.click()
        card = page.get_by_text(f"Assets of movie {IMPORT_MOVIE} imported")
        expect(card).to_be_visible()  # the progress artifact, by its description
        expect(page.get_by_text(f"import-report-{IMPORT_MOVIE}").first).to_be_visible()
        page.wait_for_load_state("networkidle")
        run_shot = ARTIFACTS / "ui-import-run.png"
        page.screenshot(path=str(run_shot))

        card.click()  # the artifact's own page: the progress bar's value
        expect(page.get_by_text("Progress: 100%")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "ui-import-progress.png"))
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "ui-import-failure.png"))
        raise
    finally:
        page.close()

    assert run_shot.stat().st_size < 300_000
    if os.environ.get("REELFLOW_UPDATE_DOCS_SCREENSHOT") == "1":
        shutil.copyfile(run_shot, ROOT / "docs" / "ui-import-run.png")

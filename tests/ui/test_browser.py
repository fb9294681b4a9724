"""The UI in a real browser: Debian's chromium, headless, driven by Playwright.

One browser for the session; each test gets a fresh context (its own cookies), collects console
errors and uncaught page errors and fails on any, and saves screenshots under its ``tmp_path``.
When ``CI=true`` a missing chromium fails instead of skipping.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import service_missing

from .conftest import UiServer
from .test_pages import pages

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        service_missing("chromium", f"{CHROMIUM} is missing: run 'apt-get install -y chromium'")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        service_missing("playwright", "pip install 'playwright>=1.40' (the dev extra has it)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


@dataclass
class Tab:
    """A page of a fresh browser context, with the errors it reported."""

    page: Any
    shots: Path
    errors: list[str] = field(default_factory=list)

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)


def open_tab(browser: Any, server: UiServer, tmp_path: Path, user: str | None = None) -> Tab:
    context = browser.new_context(base_url=server.url)
    if user:
        context.add_cookies([{"name": "keel-test-user", "value": user, "url": server.url}])
    page = context.new_page()
    page.set_default_timeout(15_000)
    tab = Tab(page, tmp_path)
    page.on("console", lambda m: tab.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: tab.errors.append(f"page error: {exc}"))
    return tab


@pytest.fixture
def tab(browser: Any, ui_server: UiServer, tmp_path: Path) -> Iterator[Tab]:
    t = open_tab(browser, ui_server, tmp_path)
    yield t
    t.page.context.close()
    assert t.errors == [], f"console errors: {t.errors}"


def test_every_page_opens_without_console_errors(tab: Tab, ui_server: UiServer) -> None:
    for i, path in enumerate(pages(ui_server)):
        response = tab.page.goto(path)
        assert response is not None, path
        assert response.status == 200, path
        assert tab.page.title().endswith("· Keel"), path
        assert tab.page.locator("h1").first.is_visible(), path
        tab.shot(f"page-{i:02d}")
    assert len(list(tab.shots.glob("page-*.png"))) == len(pages(ui_server))


def test_monitor_and_deployment_charts_show(tab: Tab) -> None:
    page = tab.page
    page.goto("/monitors/churn-prod")
    figure = page.locator("figure", has_text="amount: reference vs current")
    assert figure.locator('svg.chart g[data-series="reference"]').count() == 1
    assert figure.locator('svg.chart g[data-series="current"]').count() == 1
    assert figure.locator("svg.chart").is_visible()
    tab.shot("monitor-features")
    page.get_by_role("link", name="churn-prod", exact=True).first.click()
    page.wait_for_url(re.compile(r"/deployments/churn-prod$"))
    for title in ("Requests and errors", "Error rate", "Latency (ms)"):
        chart = page.locator("svg.chart", has=page.locator(f'text="{title}"'))
        assert chart.count() == 1, title
        assert chart.is_visible(), title
    tab.shot("deployment-traffic")


def test_click_from_a_run_to_its_model_to_its_lineage_to_its_dataset(
    tab: Tab, ui_server: UiServer
) -> None:
    page = tab.page
    page.goto("/")
    page.get_by_role("link", name="churn", exact=True).click()
    page.get_by_role("link", name="trial-1").click()
    assert page.locator("h1").inner_text() == "Run trial-1"
    assert page.locator("svg.chart").count() == 2
    tab.shot("run")
    page.get_by_role("link", name="churn version 1").click()
    assert page.locator("h1").inner_text() == "Model churn version 1"
    tab.shot("model-version")
    page.locator("#lineage-link").click()
    assert page.locator("h1").inner_text() == "Lineage of model:churn/1"
    tab.shot("lineage")
    # The graph is the interactive part: its nodes are links.
    page.locator('svg.graph a[aria-label="dataset_version:transactions@v1"]').click()
    page.wait_for_url(re.compile(r"/datasets/transactions/versions/1$"))
    assert page.locator("h1").inner_text() == "Dataset transactions@v1"
    assert page.get_by_text("tx-quality").first.is_visible()
    tab.shot("dataset")


def test_compare_two_runs(tab: Tab, ui_server: UiServer) -> None:
    f = ui_server.filled
    page = tab.page
    page.goto(f"/experiments/{f.experiment_id}")
    button = page.locator("#compare-button")
    assert button.is_disabled()
    page.get_by_label("Select run trial-0").check()
    assert button.is_disabled()
    page.get_by_label("Select run trial-2").check()
    assert button.is_enabled()
    assert button.inner_text() == "Compare 2 runs"
    button.click()
    page.wait_for_url(re.compile(r"/compare\?"))
    assert page.locator("h1").inner_text() == "Compare runs"
    assert page.locator("svg.chart").count() == 2
    assert page.locator("svg.chart").first.locator("polyline").count() == 2
    same = page.locator("tr.same").first
    assert same.is_visible()
    page.get_by_label("Show only params that differ").check()
    assert same.is_hidden()
    assert page.locator("tr.changed").first.is_visible()
    tab.shot("compare")


def test_approve_as_an_approver_and_be_refused_as_a_viewer(
    browser: Any, ui_server: UiServer, tmp_path: Path
) -> None:
    f = ui_server.filled
    url = f"/models/{f.model}/versions/{f.version}"
    approver = open_tab(browser, ui_server, tmp_path, "alice")
    approver.page.goto(url)
    approver.page.get_by_label("Comment").fill("browser says yes")
    approver.page.locator("#approve-button").click()
    approver.page.wait_for_url(re.compile(r"notice=approved"))
    assert approver.page.get_by_role("status").inner_text() == "Your approval was recorded."
    assert approver.page.get_by_role("cell", name="browser says yes").is_visible()
    approver.shot("approved")
    approver.page.context.close()
    assert approver.errors == []

    viewer = open_tab(browser, ui_server, tmp_path, "vera")
    viewer.page.goto(url)
    assert viewer.page.locator("#approve-button").count() == 0
    viewer.shot("viewer-no-button")
    response = viewer.page.goto("/audit")
    assert response is not None
    assert response.status == 403
    assert viewer.page.locator("h1").inner_text() == "Forbidden"
    viewer.shot("viewer-forbidden")
    viewer.page.context.close()
    # The browser reports the 403 itself as a failed load; nothing else may be logged.
    assert [e for e in viewer.errors if "status of 403" not in e] == []

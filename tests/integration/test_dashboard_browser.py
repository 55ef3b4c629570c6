"""The live dashboard in headless Chromium, fed by a real worker through Kafka."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .kafka_helpers import produce

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = Path(__file__).resolve().parents[2] / "build" / "screenshots" / "dashboard.png"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Other articles around the one under test, so the screenshot shows a realistic page.
COMPANIONS = [
    {
        "title": "Lumen Health raises $85 million Series C to expand diagnostics platform",
        "text": "Lumen Health has raised $85 million in a Series C funding round led by Sequoia Capital, with "
        "participation from existing investors. The company will use the new capital to hire engineers.",
        "source": "TechDaily",
        "url": "https://example.com/lumen-series-c",
    },
    {
        "title": "Contoso names Maria Alvarez chief executive officer",
        "text": "Contoso said its board has appointed Maria Alvarez as chief executive officer, effective March 1. "
        "She succeeds John Carter, who is retiring after twelve years in the role.",
        "source": "Business Wire",
        "url": "https://example.com/contoso-ceo",
    },
    {
        "title": "City council debates new bike lanes",
        "text": "Members of the city council spent the evening discussing where new bike lanes could go next "
        "spring. No decision was taken and the topic will return next month.",
        "source": "Local Herald",
    },
    {
        "title": "Globex and Initech form strategic alliance for cloud security",
        "text": "Globex and Initech announced a strategic partnership to jointly develop cloud security products. "
        "The two companies will combine their research teams under the multi-year agreement.",
        "source": "Newswire",
        "url": "https://example.com/globex-initech",
    },
]


def _produce(worker, articles: list[dict]) -> None:
    # Playwright's sync API keeps an event loop running in this thread, and
    # produce() needs its own: send from another thread.
    messages = [(a["id"].encode(), json.dumps(a).encode()) for a in articles]
    with ThreadPoolExecutor(1) as pool:
        pool.submit(produce, worker.bootstrap, worker.topics.raw, messages).result(timeout=30)


def _fetch(url: str) -> tuple[str, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.headers.get("Content-Type", ""), response.read().decode()


def test_root_and_dashboard_serve_the_page(worker):
    for path in ("/", "/dashboard"):
        content_type, body = _fetch(worker.url + path)
        assert content_type.startswith("text/html")
        assert "Events per minute" in body
    content_type, _ = _fetch(worker.url + "/dashboard/static/dashboard.js")
    assert "javascript" in content_type


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed")
def test_new_article_appears_live_with_its_event_and_evidence(worker):
    sync_api = pytest.importorskip("playwright.sync_api")
    tag = uuid.uuid4().hex[:8]
    title = f"Northwind Robotics to acquire Fabrikam Sensors ({tag})"
    article = {
        "id": f"dash-{tag}",
        "title": title,
        "source": "Test Wire",
        "url": f"https://example.com/{tag}",
        "text": "Northwind Robotics said on Monday it has agreed to acquire Fabrikam Sensors in an all-cash "
        "deal valued at $1.2 billion. The acquisition is expected to close in the third quarter.",
    }
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 1100})
            page.goto(worker.url + "/dashboard")
            page.wait_for_selector('#status[data-state="live"]', timeout=20_000)
            page.evaluate("window.__sameDocument = true")  # gone if the page reloads

            companions = [{"id": f"dash-{tag}-{i}", **c} for i, c in enumerate(COMPANIONS)]
            _produce(worker, [*companions[:2], article, *companions[2:]])

            card = page.locator("li.article", has_text=title)
            sync_api.expect(card).to_be_visible(timeout=20_000)
            event = card.locator('.event[data-type="acquisition"]')
            sync_api.expect(event.locator(".chip")).to_contain_text("Acquisition")
            sync_api.expect(event.locator(".evidence li").first).to_contain_text("agreed to acquire Fabrikam")
            sync_api.expect(card.locator("a.a-title")).to_have_attribute("href", article["url"])
            assert page.evaluate("window.__sameDocument") is True

            # The counts follow: the acquisition row and the chart's current minute.
            sync_api.expect(page.locator('#totals tr[data-type="acquisition"] td').nth(1)).not_to_have_text(
                "0", timeout=5_000
            )
            quiet = page.locator("li.article.quiet", has_text="City council debates")
            sync_api.expect(quiet).to_be_visible(timeout=10_000)
            page.wait_for_timeout(3_000)  # let the highlight of new articles fade for the picture
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            browser.close()

    # With its last browser gone, the feed lets go of Kafka (after a short grace period).
    deadline = time.monotonic() + 15
    while worker.get("/dashboard/feed")["running"] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert worker.get("/dashboard/feed") == {"running": False, "status": "idle", "clients": 0}

"""The live dashboard in headless Chromium, fed by a real worker through Kafka."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from newsevents.model.taxonomy import DEFAULT_TAXONOMY
from tests.schemas import assert_valid

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


def _produce(worker, articles: list[dict], topic: str | None = None) -> None:
    # Playwright's sync API keeps an event loop running in this thread, and
    # produce() needs its own: send from another thread.
    messages = [(a["id"].encode(), json.dumps(a).encode()) for a in articles]
    with ThreadPoolExecutor(1) as pool:
        pool.submit(produce, worker.bootstrap, topic or worker.topics.raw, messages).result(timeout=30)


def _topic_size(bootstrap: str, topic: str) -> int:
    """Records in a topic, as the page's "classified" figure counts them."""
    from aiokafka import AIOKafkaConsumer

    async def go() -> int:
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
        await consumer.start()
        try:
            tps = list(consumer.assignment())
            begin, end = await consumer.beginning_offsets(tps), await consumer.end_offsets(tps)
            return sum(end[tp] - begin[tp] for tp in tps)
        finally:
            await consumer.stop()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, go()).result(timeout=30)


@contextlib.contextmanager
def _dashboard(worker) -> Iterator[Any]:
    """A headless Chromium page on the worker's dashboard, once its feed is live."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 1100})
            page.goto(worker.url + "/dashboard")
            page.wait_for_selector('#status[data-state="live"]', timeout=20_000)
            yield page
        finally:
            browser.close()


def _figure(page, selector: str) -> int:
    """A number the page shows (0 when the element is not there)."""
    found = page.locator(selector)
    return int("".join(ch for ch in found.first.inner_text() if ch.isdigit()) or 0) if found.count() else 0


def _wait_for_counts_of(page, worker, records: int) -> None:
    """Until the page's counts cover ``records`` classified records: then totals and companies are settled too."""
    assert _topic_size(worker.bootstrap, worker.topics.classified) == records
    page.wait_for_function(
        "n => Number(document.getElementById('kpi-articles').textContent.replace(/\\D/g, '')) === n",
        arg=records,
        timeout=20_000,
    )


def _as_published(article: dict, events: list[dict], *, story_id: str, companies: list[str]) -> dict:
    """A classified value as a worker with companies and stories publishes it."""
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    scores = dict.fromkeys(DEFAULT_TAXONOMY, 0.01) | {e["type"]: e["score"] for e in events}
    message = {
        "schema": "newsevents.classified/v1",
        **{k: article.get(k, "") for k in ("id", "title", "url", "source")},
        "published_at": now,
        "events": events,
        "scores": scores,
        "model": {"name": "newsevents-default", "version": "test"},
        "processed_at": now,
        "companies": companies,
        "story_id": story_id,
        "duplicate": story_id != article["id"],
    }
    assert_valid(message, "classified")
    return message


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
    with _dashboard(worker) as page:
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

    # With its last browser gone, the feed lets go of Kafka (after a short grace period).
    deadline = time.monotonic() + 15
    while worker.get("/dashboard/feed")["running"] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert worker.get("/dashboard/feed") == {"running": False, "status": "idle", "clients": 0}


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed")
def test_companies_on_chips_copies_under_their_story_and_stories_counted_once(worker):
    sync_api = pytest.importorskip("playwright.sync_api")
    tag = uuid.uuid4().hex[:8]
    evidence = "Tapestry has entered into a strategic alliance with Tmall, Alibaba's online marketplace."
    first = {
        "id": f"story-{tag}",
        "title": f"Tapestry and Tmall partner to take Coach and Kate Spade deeper into China ({tag})",
        "source": "Luxury Daily",
        "url": f"https://example.com/tapestry-tmall-{tag}",
    }
    copy = {  # the same story re-published with another headline, as a worker flags it
        "id": f"story-{tag}-copy",
        "title": f"Coach owner Tapestry teams up with Alibaba's Tmall ({tag})",
        "source": "Retail Syndicate",
        "url": f"https://example.com/syndicated/{tag}",
    }
    other = {  # different news about the same company: a story of its own
        "id": f"story-{tag}-vietnam",
        "title": f"Tapestry opens its first Coach flagship in Vietnam ({tag})",
        "source": "Asia Retail News",
        "url": f"https://example.com/tapestry-vietnam-{tag}",
    }
    seed_events = [
        {"type": "partnership", "score": 0.97, "evidence": [evidence], "companies": ["Tapestry", "Tmall", "Alibaba"]},
        {
            "type": "market_expansion",
            "score": 0.84,
            "evidence": ["The partnership will expand the reach of Coach and Kate Spade in China."],
            "companies": ["Tapestry", "Tmall"],
            "markets": ["China"],
        },
    ]
    vietnam_events = [
        {
            "type": "market_expansion",
            "score": 0.91,
            "evidence": ["Tapestry opened its first Coach flagship store in Ho Chi Minh City."],
            "companies": ["Tapestry"],
            "markets": ["Vietnam"],
        }
    ]
    named = ["Tapestry", "Tmall", "Alibaba", "Coach", "Kate Spade"]
    messages = [
        _as_published(first, seed_events, story_id=first["id"], companies=named),
        _as_published(copy, seed_events, story_id=first["id"], companies=named),
        _as_published(other, vietnam_events, story_id=other["id"], companies=["Tapestry", "Coach"]),
    ]

    def stories(name: str) -> int:
        return _figure(page, f'#companies li[data-name="{name}"] .c-count')

    def last_hour(event_type: str) -> int:
        return _figure(page, f'#totals tr[data-type="{event_type}"] td:nth-child(2)')

    with _dashboard(worker) as page:
        _wait_for_counts_of(page, worker, before := _topic_size(worker.bootstrap, worker.topics.classified))
        counted = {t: last_hour(t) for t in ("partnership", "market_expansion")}
        tapestry, tmall, coach = stories("Tapestry"), stories("Tmall"), stories("Coach")

        _produce(worker, messages, topic=worker.topics.classified)

        card = page.locator("li.article", has_text=first["title"])
        sync_api.expect(card).to_be_visible(timeout=20_000)
        partnership = card.locator('.event[data-type="partnership"]')
        sync_api.expect(partnership.locator(".parties .company")).to_have_text(["Tapestry", "Tmall", "Alibaba"])
        expansion = card.locator('.event[data-type="market_expansion"]')
        sync_api.expect(expansion.locator(".parties .company")).to_have_text(["Tapestry", "Tmall"])
        sync_api.expect(expansion.locator(".parties .market")).to_have_text(["China"])
        sync_api.expect(card.locator(".a-named")).to_have_text("Also named: Coach, Kate Spade")

        # The copy is a line under its story's first article, not a card of its own.
        copies = card.locator("details.copies")
        sync_api.expect(copies.locator("summary")).to_contain_text("+1 copy", timeout=20_000)
        sync_api.expect(copies.locator("summary")).to_contain_text("Retail Syndicate")
        copies.locator("summary").click()
        listed = copies.locator("li", has_text="Retail Syndicate")
        sync_api.expect(listed.locator("a.c-title")).to_have_text(copy["title"])
        sync_api.expect(listed.locator("a.c-title")).to_have_attribute("href", copy["url"])
        sync_api.expect(page.locator("li.article", has_text=other["title"])).to_be_visible(timeout=20_000)
        assert page.locator(".a-title", has_text=copy["title"]).count() == 0  # no card of its own

        # Three records, two stories: the copy adds to no count.
        _wait_for_counts_of(page, worker, before + 3)
        assert last_hour("partnership") == counted["partnership"] + 1
        assert last_hour("market_expansion") == counted["market_expansion"] + 2
        assert (stories("Tapestry"), stories("Tmall")) == (tapestry + 2, tmall + 1)
        assert stories("Coach") == coach  # named in both stories, involved in no event
        sync_api.expect(page.locator("#companies-window")).to_have_text("stories, last hour")

        page.wait_for_timeout(3_000)  # let the highlight of new articles fade for the picture
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)

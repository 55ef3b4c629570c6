"""The worker's web server on a running worker: Faust's own pages are off, and
``NEWSEVENTS_WEB_TOKEN`` guards every path, for scripts (a bearer header) and
for a browser (``?token=`` once, then a cookie)."""

from __future__ import annotations

import http.client
import socket
import urllib.parse

import pytest

from .conftest import start_worker
from .test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.integration

TOKEN = "t0ken-for-tests"
OUR_PAGES = ["/", "/dashboard", "/dashboard/feed", "/dashboard/static/dashboard.js", "/health", "/stats", "/metrics"]
FAUST_PAGES = ["/router/", "/router/event-counts/", "/table/event-counts/", "/graph/", "/stats/", "/stats/assignment/"]


def request(url: str, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    """One GET, redirects not followed; the body is left unread (the event stream never ends)."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.request("GET", path, headers=headers or {})
    return connection.getresponse()


def status(url: str, path: str, headers: dict[str, str] | None = None) -> int:
    response = request(url, path, headers)
    response.close()
    return response.status


def raw_status(url: str, header_line: bytes) -> bytes:
    """The status line for a GET /health carrying a header with arbitrary bytes."""
    parts = urllib.parse.urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n" + header_line + b"\r\nConnection: close\r\n\r\n")
        return sock.makefile("rb").readline().strip()


@pytest.fixture(scope="module")
def guarded(kafka, tmp_path_factory):
    from newsevents.streams.processes import stop_gracefully

    running = start_worker(kafka.bootstrap, tmp_path_factory.mktemp("guarded"), NEWSEVENTS_WEB_TOKEN=TOKEN)
    try:
        yield running
    finally:
        stop_gracefully(running.proc, timeout=30)


def test_faust_builtin_pages_are_not_served(worker):
    assert {path: status(worker.url, path) for path in FAUST_PAGES} == dict.fromkeys(FAUST_PAGES, 404)
    assert status(worker.url, "/health") == 200 and status(worker.url, "/stats") == 200  # ours are


def test_every_path_needs_the_token(guarded):
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    for path in [*OUR_PAGES, "/dashboard/events", *FAUST_PAGES, "/no-such-page"]:
        refused = request(guarded.url, path)
        assert (refused.status, refused.headers["WWW-Authenticate"]) == (401, "Bearer"), path
        refused.close()
        assert status(guarded.url, path, {"Authorization": "Bearer wrong"}) == 401, path
        assert status(guarded.url, path, {"Authorization": TOKEN}) == 401, path  # no scheme
        assert status(guarded.url, path, {"Cookie": "newsevents_token=wrong"}) == 401, path
    assert {path: status(guarded.url, path, bearer) for path in OUR_PAGES} == dict.fromkeys(OUR_PAGES, 200)
    assert status(guarded.url, "/health", {"Authorization": f"bearer {TOKEN}"}) == 200  # the scheme is case-blind
    assert {path: status(guarded.url, path, bearer) for path in FAUST_PAGES} == dict.fromkeys(FAUST_PAGES, 404)
    stream = request(guarded.url, "/dashboard/events", bearer)
    assert stream.status == 200 and stream.headers["Content-Type"] == "text/event-stream"
    stream.close()


def test_undecodable_credentials_are_refused_not_an_error(guarded):
    assert raw_status(guarded.url, b"Authorization: Bearer \xff\xfe") == b"HTTP/1.1 401 Unauthorized"
    assert raw_status(guarded.url, b"Cookie: newsevents_token=\xff\xfe") == b"HTTP/1.1 401 Unauthorized"
    assert "Traceback" not in guarded.log_path.read_text(errors="replace")


def test_a_token_in_the_address_becomes_a_cookie_for_the_browser(guarded):
    refused = request(guarded.url, "/dashboard?token=wrong")
    assert refused.status == 401 and refused.headers["Set-Cookie"] is None
    refused.close()
    handed = request(guarded.url, f"/dashboard?token={TOKEN}")
    assert handed.status == 302
    assert handed.headers["Location"] == "./dashboard"  # relative: it stays under a proxy's path prefix
    cookie = handed.headers["Set-Cookie"]
    handed.close()
    assert cookie.startswith(f"newsevents_token={TOKEN};") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Path=/" in cookie
    jar = {"Cookie": f"newsevents_token={TOKEN}"}
    assert status(guarded.url, "/dashboard", jar) == 200 and status(guarded.url, "/metrics", jar) == 200
    root = request(guarded.url, f"/?token={TOKEN}")
    assert (root.status, root.headers["Location"]) == (302, "./")
    root.close()


def test_a_browser_opens_the_guarded_dashboard_with_the_token_link(guarded):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()  # one browser profile: its pages share cookies
            page = context.new_page()
            page.goto(f"{guarded.url}/?token={TOKEN}")
            # Live means the page, its script and its event stream all got in with the cookie.
            page.wait_for_selector('#status[data-state="live"]', timeout=20_000)
            assert "token" not in page.url
            assert page.evaluate("document.cookie") == ""  # HttpOnly: the page's scripts cannot read it
            other = context.new_page()  # same profile, same cookie: no token needed again
            other.goto(guarded.url + "/dashboard")
            other.wait_for_selector('#status[data-state="live"]', timeout=20_000)
            stranger = browser.new_context().new_page()  # another profile: no cookie
            assert stranger.goto(guarded.url + "/dashboard").status == 401
        finally:
            browser.close()

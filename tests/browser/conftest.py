"""Fixtures of the end-to-end tests of the web page: a server per test, one headless
Chromium per session, and players, each in their own browser context (own cookies)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from helpers.browser import Player, launch_chromium
from helpers.server import ServerProcess

BROWSER_DIR = Path(__file__).parent

# Waits on page state are bounded; a reconnection after a restart is the slowest of them.
expect.set_options(timeout=15_000)


def pytest_collection_modifyitems(items):
    """Tests here that drive Chromium are marked ``browser`` (``-m "not browser"`` skips them)."""
    for item in items:
        in_here = BROWSER_DIR in Path(item.fspath).parents
        if in_here and "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def web_server(tmp_path):
    server = ServerProcess(tmp_path / "instance")
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["websocket", "polling"])
def transport(request):
    """Every scenario runs once over WebSocket only and once over long-polling only."""
    return request.param


_numbers = itertools.count()


@pytest.fixture
def make_player(browser, web_server, transport):
    """make_player("alice") -> a Player in a fresh browser context, not yet logged in."""
    contexts = []

    def make(name: str) -> Player:
        context = browser.new_context(viewport={"width": 1100, "height": 800})
        context.set_default_timeout(15_000)
        contexts.append(context)
        username = f"{name}{next(_numbers)}"
        return Player(context, web_server.url, transport, username)

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page_on_server(browser, web_server):
    """A page of the server's origin, for importing the page's modules in the browser."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(web_server.url + "/")
    yield page
    context.close()

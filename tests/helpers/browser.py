"""Debian's Chromium, and what a person does on the page and sees, for the browser tests
(``tests/browser``) and ``scripts/screenshot.py``.

The browser is always Debian's (``/usr/bin/chromium``, or ``$PLAYWIRE_CHROMIUM``); Playwright
never downloads one. Every check waits on page state with Playwright's ``expect`` (bounded by
its timeout); nothing here sleeps.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect

PASSWORD = "correct horse battery"
CHROMIUM = os.environ.get("PLAYWIRE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def launch_chromium(playwright: Playwright) -> Browser:
    """Headless Debian Chromium driven by Playwright."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} not found: install Debian's chromium (make setup)")
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


class Player:
    """One person: a browser context (so their own cookie jar) holding any number of tabs."""

    def __init__(self, context: BrowserContext, base_url: str, transport: str, username: str):
        self.context = context
        self.base_url = base_url
        self.transport = transport
        self.username = username

    def open_tab(self) -> Page:
        page = self.context.new_page()
        page.goto(f"{self.base_url}/?transport={self.transport}")
        return page

    def register(self) -> Page:
        """A first tab, registered through the form; it ends up logged in and connected."""
        page = self.open_tab()
        submit_login_form(page, self.username, PASSWORD, button="#register-button")
        expect_logged_in(page, self)
        return page

    def logged_in_tab(self) -> Page:
        """Another tab: the session cookie logs it in."""
        page = self.open_tab()
        expect_logged_in(page, self)
        return page


def submit_login_form(page: Page, username: str, password: str, button: str) -> None:
    page.fill("#username", username)
    page.fill("#password", password)
    page.click(button)


def expect_logged_in(page: Page, player: Player) -> None:
    expect(page.locator("#app-view")).to_be_visible()
    expect(page.locator("#me-name")).to_have_text(player.username)
    expect_connected(page, player.transport)


def expect_connected(page: Page, transport: str) -> None:
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    # The forced transport is the one in use: no silent fallback or upgrade.
    expect(page.locator("#transport")).to_have_text(transport)


def online_entry(page: Page, player: Player):
    return page.locator(f'#online li[data-user="{player.username}"]')


def send_chat(page: Page, text: str) -> None:
    page.fill("#chat-input", text)
    page.click("#chat-send")


def chat_messages(page: Page, text: str):
    """The chat entries (not notices) whose text is exactly ``text``."""
    return _messages_reading(page, "#messages", text)


def _messages_reading(page: Page, chat_list: str, text: str):
    """The message entries (not notices) of the list ``chat_list`` whose text is ``text``."""
    return page.locator(f"{chat_list} li.message").filter(
        has=page.locator(".text", has_text=re.compile(f"^{re.escape(text)}$"))
    )


def notices(page: Page, text: str):
    return page.locator("#messages li.notice", has_text=text)


# --- the game ---------------------------------------------------------------------------


def start_game(inviter_tab: Page, invitee_tab: Page, inviter: Player, invitee: Player) -> None:
    """The inviter invites from the online list; the invitee accepts. The inviter is X."""
    online_entry(inviter_tab, invitee).get_by_role("button", name="Invite").click()
    invitation = invitee_tab.locator(f'#invites .invite[data-from="{inviter.username}"]')
    invitation.get_by_role("button", name="Accept").click()
    for tab in (inviter_tab, invitee_tab):
        expect_board(tab, ".........")


def play(tab: Page, cell: int) -> None:
    tab.locator(f'#board .cell[data-cell="{cell}"]').click()


def expect_board(tab: Page, board: str) -> None:
    """``board``: nine characters, X, O or "." for an empty cell, row by row."""
    expect(tab.locator("#game")).to_have_attribute("data-status", re.compile("playing|over"))
    expect(tab.locator("#board")).to_have_attribute("data-board", board)


def expect_game_over(tab: Page, status_text: str) -> None:
    expect(tab.locator("#game")).to_have_attribute("data-status", "over")
    expect(tab.locator("#game-status")).to_have_text(status_text)
    expect(tab.locator("#resign")).to_be_hidden()
    expect(tab.locator("#board .cell:enabled")).to_have_count(0)


# --- rooms: the lobby's chat is #messages, the game's is #game-messages -----------------


def send_game_chat(page: Page, text: str) -> None:
    page.fill("#game-chat-input", text)
    page.click("#game-chat-send")


def game_chat_messages(page: Page, text: str):
    """The game chat's entries whose text is exactly ``text``."""
    return _messages_reading(page, "#game-messages", text)


def expect_game_room(page: Page, *players: Player) -> None:
    """The game chat is shown, and the game's room holds exactly these players."""
    expect(page.locator("#game-chat")).to_be_visible()
    users = page.locator("#game-room-users li")
    expect(users).to_have_text(sorted((p.username for p in players), key=str.lower))

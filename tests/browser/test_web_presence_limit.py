"""The online list above the server's presence limit: the count instead of the list, kept
up to date by ``presence_count``, and the list again once the namespace is small again."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from helpers.browser import online_entry, start_game
from helpers.server import ServerProcess

# Limited above 3 users, a full list again below 90 % of 3 (so at 2 users).
LIMIT_FLAGS = ("--presence-limit", "3", "--presence-count-interval", "0.2")


@pytest.fixture
def web_server(tmp_path):
    """This module's server: a tiny presence limit, counts sent five times a second."""
    server = ServerProcess(tmp_path / "instance", *LIMIT_FLAGS)
    server.start()
    yield server
    server.stop()


def test_above_the_limit_the_page_shows_the_count_then_the_list_again(make_player):
    alice, bob = make_player("alice"), make_player("bob")
    alice_tab = alice.register()
    bob_tab = bob.register()
    expect(alice_tab.locator("#online-count")).to_have_text("(2)")
    expect(alice_tab.locator("#online-summary")).to_be_hidden()

    others = [make_player(name) for name in ("carol", "dave")]
    other_tabs = [player.register() for player in others]
    for tab in (alice_tab, other_tabs[-1]):  # told by the switch, and on arrival
        expect(tab.locator("#online-summary")).to_have_text("4 players online")
        expect(tab.locator("#online-count")).to_have_text("")
        # Instead of the namespace's list, the lobby's: someone to invite.
        expect(tab.locator("#online-lobby")).to_be_visible()
        expect(tab.locator("#online li")).to_have_count(4)

    erin = make_player("erin")
    other_tabs.append(erin.register())
    expect(alice_tab.locator("#online-summary")).to_have_text("5 players online")  # a count
    expect(online_entry(alice_tab, erin)).to_have_count(1)  # she is in the lobby

    start_game(alice_tab, bob_tab, alice, bob)  # inviting works without the list

    for tab in other_tabs:
        tab.click("#logout")
    expect(alice_tab.locator("#online-summary")).to_be_hidden()
    expect(alice_tab.locator("#online-count")).to_have_text("(2)")
    expect(alice_tab.locator("#online li")).to_have_count(2)
    expect(online_entry(alice_tab, bob)).to_have_count(1)

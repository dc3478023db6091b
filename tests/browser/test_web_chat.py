"""Two people meet on the page: registration, who is online, and the chat."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from web_pages import chat_messages, notices, online_entry, send_chat

CLOCK = re.compile(r"^\d{1,2}:\d{2}")


def test_two_users_see_each_other_online_and_chat_both_ways(make_player):
    alice, bob = make_player("alice"), make_player("bob")
    alice_tab = alice.register()
    bob_tab = bob.register()

    for tab in (alice_tab, bob_tab):
        expect(online_entry(tab, alice)).to_have_count(1)
        expect(online_entry(tab, bob)).to_have_count(1)
    expect(online_entry(alice_tab, alice)).to_contain_text("you")

    send_chat(alice_tab, "hello bob")
    send_chat(bob_tab, "hi alice")
    for tab in (alice_tab, bob_tab):
        for author, text in ((alice, "hello bob"), (bob, "hi alice")):
            # Exactly once, the sender's own copy included: it is the server's broadcast.
            message = chat_messages(tab, text)
            expect(message).to_have_count(1)
            expect(message.locator(".author")).to_have_text(author.username)
            expect(message.locator(".time")).to_have_text(CLOCK)
    expect(chat_messages(alice_tab, "hello bob")).to_have_class(re.compile(r"\bmine\b"))
    expect(alice_tab.locator("#chat-input")).to_have_value("")


def test_server_errors_are_shown_not_swallowed(make_player):
    alice = make_player("alice")
    tab = alice.register()

    send_chat(tab, "")  # the server, not the page, decides that this is invalid
    expect(tab.locator("#chat-error")).to_have_text("A message is 1 to 2,000 characters of text.")

    send_chat(tab, "fine now")
    expect(chat_messages(tab, "fine now")).to_have_count(1)
    expect(tab.locator("#chat-error")).to_have_text("")


def test_a_second_tab_adds_no_second_presence_entry(make_player):
    bob, alice = make_player("bob"), make_player("alice")
    bob_tab = bob.register()
    alice.register()
    expect(notices(bob_tab, f"{alice.username} joined.")).to_have_count(1)

    alice_second_tab = alice.logged_in_tab()
    send_chat(alice_second_tab, "from my second tab")
    # The server sends bob any user_joined for that tab before this message: once bob
    # sees the message, a second entry or notice would already be there.
    expect(chat_messages(bob_tab, "from my second tab")).to_have_count(1)
    expect(online_entry(bob_tab, alice)).to_have_count(1)
    expect(notices(bob_tab, f"{alice.username} joined.")).to_have_count(1)
    expect(bob_tab.locator("#online-count")).to_have_text("(2)")
    expect(online_entry(alice_second_tab, alice)).to_have_count(1)


def test_logging_out_everywhere_shows_the_user_leaving(make_player):
    alice, bob = make_player("alice"), make_player("bob")
    alice_tab = alice.register()
    bob_tab = bob.register()
    expect(online_entry(alice_tab, bob)).to_have_count(1)

    bob_tab.click("#logout")
    expect(bob_tab.locator("#login-view")).to_be_visible()
    expect(online_entry(alice_tab, bob)).to_have_count(0)
    expect(notices(alice_tab, f"{bob.username} left.")).to_have_count(1)

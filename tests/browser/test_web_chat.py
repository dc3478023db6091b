"""Two people meet on the page: registration, who is online, and the chat."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from helpers.browser import (
    PASSWORD,
    chat_messages,
    expect_logged_in,
    notices,
    online_entry,
    send_chat,
    submit_login_form,
)

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


def test_logging_out_logs_out_every_tab_and_shows_the_user_leaving(make_player):
    alice, bob = make_player("alice"), make_player("bob")
    alice_tab = alice.register()
    bob_tab = bob.register()
    bob_second_tab = bob.logged_in_tab()
    expect(online_entry(alice_tab, bob)).to_have_count(1)

    bob_tab.click("#logout")
    for tab in (bob_tab, bob_second_tab):
        expect(tab.locator("#login-view")).to_be_visible()
    # Only when bob's last session has gone.
    expect(online_entry(alice_tab, bob)).to_have_count(0)
    expect(notices(alice_tab, f"{bob.username} left.")).to_have_count(1)


def test_logging_in_in_one_tab_logs_in_the_others(make_player):
    alice = make_player("alice")
    first_tab = alice.open_tab()
    second_tab = alice.open_tab()
    expect(second_tab.locator("#login-view")).to_be_visible()
    submit_login_form(first_tab, alice.username, PASSWORD, button="#register-button")
    for tab in (first_tab, second_tab):
        expect_logged_in(tab, alice)


def test_closing_the_last_tab_shows_the_user_leaving(make_player):
    alice, bob = make_player("alice"), make_player("bob")
    alice_tab = alice.register()
    bob_tab = bob.register()
    expect(online_entry(alice_tab, bob)).to_have_count(1)

    # As a person closing the tab: the page's beforeunload handlers run.
    bob_tab.close(run_before_unload=True)
    expect(online_entry(alice_tab, bob)).to_have_count(0)
    expect(notices(alice_tab, f"{bob.username} left.")).to_have_count(1)

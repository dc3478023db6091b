"""Staying logged in, logging in and out, and surviving a server restart."""

from __future__ import annotations

from playwright.sync_api import expect

from helpers.browser import (
    PASSWORD,
    chat_messages,
    expect_board,
    expect_connected,
    expect_logged_in,
    play,
    send_chat,
    start_game,
    submit_login_form,
)


def test_a_reload_keeps_the_login_and_logout_ends_it(make_player):
    alice = make_player("alice")
    tab = alice.register()
    send_chat(tab, "before the reload")
    expect(chat_messages(tab, "before the reload")).to_have_count(1)

    tab.reload()
    expect_logged_in(tab, alice)
    expect(chat_messages(tab, "before the reload")).to_have_count(1)  # the history

    tab.click("#logout")
    expect(tab.locator("#login-view")).to_be_visible()
    tab.reload()
    expect(tab.locator("#login-view")).to_be_visible()
    expect(tab.locator("#app-view")).to_be_hidden()

    submit_login_form(tab, alice.username, "not the password", button="#login-button")
    expect(tab.locator("#login-error")).to_have_text("Wrong username or password.")
    submit_login_form(tab, alice.username, PASSWORD, button="#login-button")
    expect_logged_in(tab, alice)


def test_registering_a_taken_name_is_refused_with_a_message(make_player):
    alice = make_player("alice")
    alice.register()
    impostor = make_player("impostor")
    tab = impostor.open_tab()
    submit_login_form(tab, alice.username, PASSWORD, button="#register-button")
    expect(tab.locator("#login-error")).to_have_text("That username is taken.")


def test_a_server_restart_shows_reconnecting_then_recovers(make_player, web_server):
    alice, bob = make_player("alice"), make_player("bob")
    alice_tab = alice.register()
    bob_tab = bob.register()
    send_chat(alice_tab, "before the restart")
    expect(chat_messages(bob_tab, "before the restart")).to_have_count(1)
    start_game(alice_tab, bob_tab, alice, bob)
    play(alice_tab, 4)
    expect_board(bob_tab, "....X....")

    web_server.stop()
    for tab in (alice_tab, bob_tab):
        expect(tab.locator("#connection")).to_have_attribute("data-state", "reconnecting")
        expect(tab.locator("#connection-text")).to_have_text("reconnecting…")

    web_server.start()
    for tab in (alice_tab, bob_tab):
        expect_connected(tab, alice.transport)
    send_chat(bob_tab, "after the restart")
    for tab in (alice_tab, bob_tab):
        expect(chat_messages(tab, "before the restart")).to_have_count(1)
        expect(chat_messages(tab, "after the restart")).to_have_count(1)
    # The game lives in the pages, not the server: it goes on.
    play(bob_tab, 0)
    expect_board(alice_tab, "O...X....")


def test_without_a_forced_transport_the_page_upgrades_to_websocket(browser, web_server):
    context = browser.new_context()
    try:
        tab = context.new_page()
        tab.goto(web_server.url + "/")
        submit_login_form(tab, "carol", PASSWORD, button="#register-button")
        expect(tab.locator("#connection")).to_have_attribute("data-state", "connected")
        expect(tab.locator("#transport")).to_have_text("websocket")
    finally:
        context.close()

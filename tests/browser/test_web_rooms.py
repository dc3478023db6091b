"""Rooms on the page: the lobby's chat, and each game in a room of its own with its chat
beside the board, mirrored in every tab of both players and heard by nobody else."""

from __future__ import annotations

from playwright.sync_api import expect

from helpers.browser import (
    chat_messages,
    expect_game_room,
    game_chat_messages,
    send_chat,
    send_game_chat,
    start_game,
)


def test_a_games_chat_reaches_every_tab_of_both_players_and_nobody_else(make_player):
    alice, bob, carol = make_player("alice"), make_player("bob"), make_player("carol")
    alice_tab = alice.register()
    bob_tab = bob.register()
    carol_tab = carol.register()
    alice_second_tab = alice.logged_in_tab()
    expect(carol_tab.locator("#game-chat")).to_be_hidden()

    start_game(alice_tab, bob_tab, alice, bob)
    for tab in (alice_tab, alice_second_tab, bob_tab):
        expect_game_room(tab, alice, bob)

    send_game_chat(alice_tab, "good luck")
    send_game_chat(bob_tab, "you too")
    for tab in (alice_tab, alice_second_tab, bob_tab):
        for text in ("good luck", "you too"):
            expect(game_chat_messages(tab, text)).to_have_count(1)
        expect(chat_messages(tab, "good luck")).to_have_count(0)  # not in the lobby's chat

    # After the game chat, alice says something in the lobby: once carol has that, she
    # would also have had the game's messages, had they reached her.
    send_chat(alice_tab, "anyone for the next game?")
    expect(chat_messages(carol_tab, "anyone for the next game?")).to_have_count(1)
    expect(chat_messages(bob_tab, "anyone for the next game?")).to_have_count(1)
    expect(carol_tab.locator("li.message", has_text="good luck")).to_have_count(0)
    expect(carol_tab.locator("#game-chat")).to_be_hidden()

    # A tab opened mid-game joins the room and gets its chat from the room's history.
    bob_second_tab = bob.logged_in_tab()
    expect_game_room(bob_second_tab, alice, bob)
    expect(game_chat_messages(bob_second_tab, "good luck")).to_have_count(1)
    send_game_chat(bob_second_tab, "from my other tab")
    for tab in (alice_tab, alice_second_tab, bob_tab, bob_second_tab):
        expect(game_chat_messages(tab, "from my other tab")).to_have_count(1)


def test_the_game_room_shows_the_opponent_leaving_and_coming_back(make_player):
    alice, bob = make_player("alice"), make_player("bob")
    alice_tab = alice.register()
    bob_tab = bob.register()
    bob_second_tab = bob.logged_in_tab()
    start_game(alice_tab, bob_tab, alice, bob)
    expect_game_room(alice_tab, alice, bob)
    expect_game_room(bob_second_tab, alice, bob)

    bob_second_tab.close(run_before_unload=True)  # one of two tabs: nothing to announce
    send_game_chat(bob_tab, "still here")
    expect(game_chat_messages(alice_tab, "still here")).to_have_count(1)
    expect_game_room(alice_tab, alice, bob)

    bob_tab.close(run_before_unload=True)  # bob's last tab: he leaves the game's room
    expect_game_room(alice_tab, alice)
    expect(alice_tab.locator("#game-messages li.notice", has_text="left the game")).to_have_count(1)

    bob_back = bob.logged_in_tab()  # catches up with the game, and joins its room again
    expect_game_room(bob_back, alice, bob)
    expect_game_room(alice_tab, alice, bob)
    expect(game_chat_messages(bob_back, "still here")).to_have_count(1)


def test_closing_a_finished_game_leaves_its_room(make_player):
    alice, bob = make_player("alice"), make_player("bob")
    alice_tab = alice.register()
    bob_tab = bob.register()
    start_game(alice_tab, bob_tab, alice, bob)
    expect_game_room(bob_tab, alice, bob)

    bob_tab.click("#resign")
    expect(alice_tab.locator("#game")).to_have_attribute("data-status", "over")
    alice_tab.click("#dismiss")
    expect(alice_tab.locator("#game-chat")).to_be_hidden()
    expect_game_room(bob_tab, bob)  # bob's game is over too, but still on his screen

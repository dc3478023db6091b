"""Tic-tac-toe through /forward: every tab of both players shows the same board."""

from __future__ import annotations

from playwright.sync_api import expect

from helpers.browser import expect_board, expect_game_over, online_entry, play, start_game

# X (alice, the inviter) takes the top row; O (bob) plays the middle row.
WINNING_GAME = [0, 3, 1, 4, 2]
# X O X / X O O / O X X: nobody completes a line.
DRAWN_GAME = [0, 1, 2, 4, 3, 5, 7, 6, 8]


def board_after(moves: list[int]) -> str:
    board = ["."] * 9
    for index, cell in enumerate(moves):
        board[cell] = "X" if index % 2 == 0 else "O"
    return "".join(board)


def test_a_full_game_to_a_win_is_the_same_in_every_tab(make_player):
    alice, bob = make_player("alice"), make_player("bob")
    alice_tab = alice.register()
    bob_tab = bob.register()
    alice_second_tab = alice.logged_in_tab()
    start_game(alice_tab, bob_tab, alice, bob)
    tabs = [alice_tab, alice_second_tab, bob_tab]
    expect(alice_second_tab.locator("#game")).to_have_attribute("data-status", "playing")

    # Alice plays from either of her tabs; bob opens a second tab in the middle of the game.
    players_tabs = [alice_tab, bob_tab, alice_second_tab, bob_tab, alice_tab]
    for number, (tab, cell) in enumerate(zip(players_tabs, WINNING_GAME), start=1):
        play(tab, cell)
        for every_tab in tabs:
            expect_board(every_tab, board_after(WINNING_GAME[:number]))
        if number == 2:
            tabs.append(bob.logged_in_tab())  # catches up by asking for the state
            expect_board(tabs[-1], board_after(WINNING_GAME[:number]))

    for tab in tabs[:2]:
        expect_game_over(tab, f"You won against {bob.username}!")
    for tab in tabs[2:]:
        expect_game_over(tab, f"{alice.username} won.")
    expect(bob_tab.locator("#board .cell.winning")).to_have_count(3)


def test_a_draw_ends_the_game_on_both_sides(make_player):
    alice, bob = make_player("alice"), make_player("bob")
    alice_tab = alice.register()
    bob_tab = bob.register()
    start_game(alice_tab, bob_tab, alice, bob)

    for number, cell in enumerate(DRAWN_GAME, start=1):
        play(alice_tab if number % 2 else bob_tab, cell)
        expect_board(bob_tab if number % 2 else alice_tab, board_after(DRAWN_GAME[:number]))

    expect_game_over(alice_tab, f"Draw with {bob.username}.")
    expect_game_over(bob_tab, f"Draw with {alice.username}.")


def test_a_resignation_ends_the_game_and_another_can_start(make_player):
    alice, bob = make_player("alice"), make_player("bob")
    alice_tab = alice.register()
    bob_tab = bob.register()
    start_game(alice_tab, bob_tab, alice, bob)
    play(alice_tab, 4)
    expect_board(bob_tab, board_after([4]))

    bob_tab.click("#resign")
    expect_game_over(alice_tab, f"{bob.username} resigned: you won!")
    expect_game_over(bob_tab, f"You resigned: {alice.username} won.")

    # Over cleanly: both can invite again, and a new game starts from an empty board.
    expect(online_entry(alice_tab, bob).get_by_role("button", name="Invite")).to_be_enabled()
    start_game(bob_tab, alice_tab, bob, alice)
    play(bob_tab, 0)  # bob invited, so bob is X and moves first
    expect_board(alice_tab, board_after([0]))


def test_a_declined_invitation_is_reported_to_the_inviter(make_player):
    alice, bob = make_player("alice"), make_player("bob")
    alice_tab = alice.register()
    bob_tab = bob.register()

    online_entry(alice_tab, bob).get_by_role("button", name="Invite").click()
    expect(alice_tab.locator("#game")).to_have_attribute("data-status", "inviting")
    invitation = bob_tab.locator(f'#invites .invite[data-from="{alice.username}"]')
    invitation.get_by_role("button", name="Decline").click()

    expect(alice_tab.locator("#game-status")).to_have_text(f"{bob.username} declined.")
    expect(alice_tab.locator("#game")).to_have_attribute("data-status", "idle")
    expect(bob_tab.locator("#game")).to_have_attribute("data-status", "idle")


def test_reloading_the_only_tab_mid_game_restores_the_game(make_player):
    alice, bob = make_player("alice"), make_player("bob")
    alice_tab = alice.register()
    bob_tab = bob.register()
    start_game(alice_tab, bob_tab, alice, bob)
    play(alice_tab, 4)
    expect_board(bob_tab, board_after([4]))
    play(bob_tab, 0)
    expect_board(alice_tab, board_after([4, 0]))

    bob_tab.reload()  # bob has no other tab: the board comes back from alice
    expect_board(bob_tab, board_after([4, 0]))
    play(alice_tab, 8)
    expect_board(bob_tab, board_after([4, 0, 8]))
    play(bob_tab, 2)
    expect_board(alice_tab, board_after([4, 0, 8, 2]))

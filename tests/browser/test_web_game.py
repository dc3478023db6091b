"""Tic-tac-toe through /forward: every tab of both players shows the same board."""

from __future__ import annotations

import re

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


class NetworkCut:
    """Cuts a player's connections to the server at the network, as a tunnel would: while
    cut, every Socket.IO request fails and every WebSocket is closed on both sides, so the
    page keeps trying to reconnect until :meth:`restore`."""

    def __init__(self, player) -> None:
        self.cutting = False
        self.sockets: list = []
        pattern = re.compile(r"/socket\.io/")
        player.context.route(pattern, self._route_request)
        player.context.route_web_socket(pattern, self._route_web_socket)

    def _route_request(self, route) -> None:
        if self.cutting:
            route.abort("internetdisconnected")
        else:
            route.continue_()

    def _route_web_socket(self, page_side) -> None:
        if self.cutting:
            page_side.close(code=4000, reason="network cut")
            return
        self.sockets.append((page_side, page_side.connect_to_server()))

    def cut(self) -> None:
        self.cutting = True
        sockets, self.sockets = self.sockets, []
        for page_side, server_side in sockets:
            page_side.close(code=4000, reason="network cut")
            server_side.close(code=4000, reason="network cut")

    def restore(self) -> None:
        self.cutting = False


def test_a_network_drop_mid_game_resumes_the_game_without_a_lost_move(make_player):
    """Connection state recovery (docs/protocol.md, "Reconnecting without losing a
    message"): the move made while Alice was cut off is replayed to her session, which
    nobody saw leave. On long-polling the server learns of the cut only when she is back
    (her session moves to her new connection)."""
    alice, bob = make_player("alice"), make_player("bob")
    network = NetworkCut(alice)
    alice_tab = alice.register()
    bob_tab = bob.register()
    start_game(alice_tab, bob_tab, alice, bob)
    play(alice_tab, WINNING_GAME[0])
    expect_board(bob_tab, board_after(WINNING_GAME[:1]))

    network.cut()
    # WebSocket: Alice is gone at once, and the move is kept for her. Long-polling: the
    # poll already under way still brings the move, and the next one fails.
    play(bob_tab, WINNING_GAME[1])
    expect_board(bob_tab, board_after(WINNING_GAME[:2]))
    expect(alice_tab.locator("#connection")).to_have_attribute("data-state", "reconnecting")
    network.restore()
    expect_board(alice_tab, board_after(WINNING_GAME[:2]))
    expect(alice_tab.locator("#connection")).to_have_attribute("data-state", "connected")
    expect(alice_tab.locator("#connection")).to_have_attribute("data-resumed", "true")
    for number in range(3, len(WINNING_GAME) + 1):
        play(alice_tab if number % 2 else bob_tab, WINNING_GAME[number - 1])
        expect_board(bob_tab if number % 2 else alice_tab, board_after(WINNING_GAME[:number]))
    expect_game_over(alice_tab, f"You won against {bob.username}!")
    expect_game_over(bob_tab, f"{alice.username} won.")

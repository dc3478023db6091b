"""The game protocol's awkward cases, run on the page's own module in the browser, with an
in-memory relay that lets messages cross each other deterministically."""

from __future__ import annotations

from pathlib import Path

import pytest

HARNESS = (Path(__file__).parent / "game_protocol_harness.js").read_text()

START_GAME = """async () => {
  const { openTab, flush, MemoryStorage } = window.harness;
  const alice = { id: 1, username: "alice" }, bob = { id: 2, username: "bob" };
  const aliceStorage = new MemoryStorage(), bobStorage = new MemoryStorage();
  const tabs = {
    a1: openTab(alice, aliceStorage),
    a2: openTab(alice, aliceStorage),
    b1: openTab(bob, bobStorage),
  };
  await tabs.a1.game.invite(bob);
  await flush();
  await tabs.b1.game.accept([...tabs.b1.game.incoming.keys()][0]);
  await flush();
  window.tabs = tabs;
  return Object.fromEntries(Object.entries(tabs).map(([name, tab]) => [name, tab.game.game?.id]));
}"""

BOARDS = """() => Object.fromEntries(
  Object.entries(window.tabs).map(([name, tab]) => [name, window.harness.moves(tab)]))"""


@pytest.fixture
def game(page_on_server):
    page_on_server.evaluate(HARNESS)
    ids = page_on_server.evaluate(START_GAME)
    assert len(set(ids.values())) == 1 and None not in ids.values(), ids
    return page_on_server


def test_two_tabs_moving_at_once_end_up_on_the_same_board(game):
    game.evaluate("""async () => {
      const { a1, a2 } = window.tabs;
      a1.game.play(0);  // both tabs of alice, before either hears of the other
      a2.game.play(8);
      await window.harness.flush();
    }""")
    boards = game.evaluate(BOARDS)
    assert boards == {"a1": "0", "a2": "0", "b1": "0"}  # bob heard cell 0 first


def test_a_lost_move_is_recovered_by_asking_for_the_state(game):
    boards = game.evaluate(
        """async () => {
      const { a1, b1 } = window.tabs;
      const { queue, flush } = window.harness;
      a1.game.play(4);
      queue.splice(queue.findIndex((delivery) => delivery.to === b1), 1);  // lost
      await flush();
      const before = window.harness.moves(b1);
      await b1.game.requestState();  // as on every reconnection
      await flush();
      return [before, window.harness.moves(b1)];
    }"""
    )
    assert boards == ["", "4"]


def test_the_only_tab_reloaded_mid_game_catches_up_through_the_opponent(game):
    boards = game.evaluate(
        """async () => {
      const { a1, a2, b1 } = window.tabs;
      const { openTab, closeTab, flush, moves } = window.harness;
      await a1.game.play(0);
      await flush();
      await b1.game.play(4);
      await flush();
      closeTab(a1);
      closeTab(a2);
      const reloaded = openTab(a1.user, a1.storage);  // same localStorage, no memory
      await reloaded.game.requestState();
      await flush();
      return [moves(reloaded), reloaded.game.isMyTurn()];
    }"""
    )
    assert boards == ["0,4", True]


def test_an_invitation_while_playing_is_declined_as_busy(game):
    status = game.evaluate(
        """async () => {
      const { openTab, flush, MemoryStorage } = window.harness;
      const carol = openTab({ id: 3, username: "carol" }, new MemoryStorage());
      await carol.game.invite({ id: 2, username: "bob" });
      await flush();
      return [carol.game.outgoing, carol.game.notice, window.tabs.b1.game.incoming.size];
    }"""
    )
    assert status == [None, "bob is playing another game.", 0]

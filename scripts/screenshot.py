"""Render the web page with a game in progress, for the README (docs/screenshot.png).

Starts its own server on a free port with a throw-away instance folder, lets two people
register, chat in the lobby, start a game, chat in the game's room and play a few moves in
headless Debian Chromium, and saves alice's view.

    .venv/bin/python scripts/screenshot.py [--output FILE] [--width 1100 --height 720]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from playwire.devserver import ServerProcess

REPO_ROOT = Path(__file__).resolve().parents[1]
# The browser tests' page helpers: tests/ is no installed package, so its folder goes on the path.
sys.path.insert(0, str(REPO_ROOT / "tests"))

from helpers.browser import (  # noqa: E402  (found through the path above)
    Player,
    chat_messages,
    expect_board,
    game_chat_messages,
    launch_chromium,
    play,
    send_chat,
    send_game_chat,
    start_game,
)

CHAT = [
    ("alice", "gg last time, rematch?"),
    ("bob", "you're on. I'll take O"),
]
GAME_CHAT = [
    ("alice", "center is mine this time"),
    ("bob", "good luck!"),
]
MOVES = [4, 0, 2, 6, 3]  # X center, O corner, X corner, O corner, X left: O must block


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "docs" / "screenshot.png")
    parser.add_argument("--width", type=int, default=1100)
    parser.add_argument("--height", type=int, default=720)
    return parser.parse_args()


def render(base_url: str, args: argparse.Namespace) -> None:
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        viewport = {"width": args.width, "height": args.height}
        people = {
            name: Player(browser.new_context(viewport=viewport), base_url, "websocket", name)
            for name in ("alice", "bob")
        }
        tabs = {name: person.register() for name, person in people.items()}
        for name, text in CHAT:
            send_chat(tabs[name], text)
            expect(chat_messages(tabs["alice"], text)).to_have_count(1)
        start_game(tabs["alice"], tabs["bob"], people["alice"], people["bob"])
        for name, text in GAME_CHAT:
            send_game_chat(tabs[name], text)
            expect(game_chat_messages(tabs["alice"], text)).to_have_count(1)
        for number, cell in enumerate(MOVES):
            play(tabs["alice"] if number % 2 == 0 else tabs["bob"], cell)
        expect_board(tabs["alice"], board(MOVES))
        args.output.parent.mkdir(parents=True, exist_ok=True)
        tabs["alice"].screenshot(path=str(args.output))
        browser.close()


def board(moves: list[int]) -> str:
    cells = ["."] * 9
    for index, cell in enumerate(moves):
        cells[cell] = "X" if index % 2 == 0 else "O"
    return "".join(cells)


def main() -> int:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="playwire-screenshot-") as instance:
        server = ServerProcess(Path(instance))
        server.start()
        try:
            render(server.url, args)
        finally:
            server.stop()
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

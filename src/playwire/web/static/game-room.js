// The room of the game this tab shows (docs/web-client.md, "Game rooms"): every tab of
// both players joins it in /chat while the game is on screen, for the game's chat beside
// the board and who of the two is there.

import { Chat } from "./chat.js";
import { $, element } from "./dom.js";
import { gameRoom } from "./game.js";
import { Room } from "./presence.js";

export class GameRoom {
  constructor({ socket, me, game }) {
    this.socket = socket;
    this.game = game;
    this.room = null;
    this.chat = new Chat({
      socket,
      me,
      room: null,
      list: $("game-messages"),
      form: $("game-chat-form"),
      input: $("game-chat-input"),
      errorLine: $("game-chat-error"),
    });
    game.addEventListener("change", () => this.follow());
    this.follow();
  }

  /** Join the current game's room, leaving the previous game's. */
  follow() {
    const name = this.game.game ? gameRoom(this.game.game.id) : null;
    if (name === (this.room ? this.room.name : null)) return;
    this.room?.leave();
    this.room = name ? this.enter(name) : null;
    this.chat.setRoom(name);
    $("game-chat").hidden = !name;
    $("app-view").classList.toggle("in-game", Boolean(name));
    this.renderUsers();
  }

  enter(name) {
    const room = new Room(this.socket, name);
    room.addEventListener("joined", ({ detail }) => this.chat.showHistory(detail.history || []));
    room.addEventListener("failed", ({ detail }) => this.chat.showError(detail.message));
    room.addEventListener("change", ({ detail }) => {
      if (detail.joined) this.chat.notice(`${detail.joined.username} joined the game.`);
      if (detail.left) this.chat.notice(`${detail.left.username} left the game.`);
      this.renderUsers();
    });
    return room;
  }

  renderUsers() {
    const users = this.room ? this.room.list() : [];
    $("game-room-users").replaceChildren(
      ...users.map((user) =>
        element("li", { text: user.username, attrs: { "data-user": user.username } }),
      ),
    );
  }
}

// The conversation of one /chat room (docs/protocol.md, "`/chat`" and "Rooms"): its
// history from the `join` ack (see Room in presence.js), live messages, sending with an ack.
// Our own messages are shown only when the server broadcasts them back, like anyone's.

import { emitWithAck } from "./connection.js";
import { element, localTime, showError } from "./dom.js";

const ERROR_TEXT = {
  rate_limited: "You are sending too fast; that message was dropped.",
  invalid_message: "A message is 1 to 2,000 characters of text.",
  payload_too_large: "That message is too large.",
  unavailable: "The server cannot store messages right now; try again shortly.",
  not_in_room: "Not in this room yet (reconnecting?); try again shortly.",
  room_full: "This room is full.",
  too_many_rooms: "This tab is in too many rooms.",
};

export function describeError(reply) {
  return ERROR_TEXT[reply.error] || reply.message || `Error: ${reply.error}`;
}

export class Chat {
  /** room: the room's name, or null for a chat with no room yet (see setRoom); its
   * history comes from the Room's "joined" event, through showHistory. */
  constructor({ socket, me, room, list, form, input, errorLine }) {
    this.socket = socket;
    this.me = me;
    this.room = room;
    this.list = list;
    this.input = input;
    this.errorLine = errorLine;
    this.shownIds = new Set();
    socket.on("message", (message) => {
      if (this.room !== null && message.room === this.room) this.append(message);
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send(this.input.value);
    });
  }

  async send(text) {
    showError(this.errorLine, "");
    const reply = await emitWithAck(this.socket, "message", { room: this.room, message: text });
    if (reply.ok) {
      if (this.input.value === text) this.input.value = "";
    } else {
      showError(this.errorLine, describeError(reply));
    }
  }

  /** History comes with every (re)join of the room: it replaces what is shown. */
  showHistory(messages) {
    this.list.replaceChildren();
    this.shownIds.clear();
    for (const message of messages) this.append(message);
  }

  append(message) {
    if (this.shownIds.has(message.id)) return;
    this.shownIds.add(message.id);
    const mine = message.user_id === this.me.id;
    const item = element("li", { className: mine ? "message mine" : "message" }, [
      element("span", { className: "author", text: message.username }),
      element("time", {
        className: "time",
        text: localTime(message.timestamp),
        attrs: { datetime: new Date(message.timestamp).toISOString() },
      }),
      element("p", { className: "text", text: message.message }),
    ]);
    item.dataset.id = message.id;
    this.appendItem(item);
  }

  /** Show another room's conversation (null: none). */
  setRoom(room) {
    this.room = room;
    this.showHistory([]);
    this.showError("");
  }

  showError(text) {
    showError(this.errorLine, text);
  }

  notice(text) {
    this.appendItem(element("li", { className: "notice", text }));
  }

  appendItem(item) {
    const atBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
    this.list.append(item);
    if (atBottom) this.list.scrollTop = this.list.scrollHeight;
  }
}

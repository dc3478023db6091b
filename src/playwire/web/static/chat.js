// The /chat namespace (docs/protocol.md, "`/chat`"): history on arrival, live messages,
// sending with an ack.
// Our own messages are shown only when the server broadcasts them back, like anyone's.

import { emitWithAck } from "./connection.js";
import { element, localTime, showError } from "./dom.js";

const ERROR_TEXT = {
  rate_limited: "You are sending too fast; that message was dropped.",
  invalid_message: "A message is 1 to 2,000 characters of text.",
  payload_too_large: "That message is too large.",
  unavailable: "The server cannot store messages right now; try again shortly.",
};

export function describeError(reply) {
  return ERROR_TEXT[reply.error] || reply.message || `Error: ${reply.error}`;
}

export class Chat {
  constructor({ socket, me, list, form, input, errorLine }) {
    this.socket = socket;
    this.me = me;
    this.list = list;
    this.input = input;
    this.errorLine = errorLine;
    this.shownIds = new Set();
    socket.on("history", ({ messages }) => this.showHistory(messages));
    socket.on("message", (message) => this.append(message));
    // Failures of events sent without an ack (docs/protocol.md, "Rules for every event")
    // arrive as "error".
    socket.on("error", (reply) => showError(this.errorLine, describeError(reply)));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send(this.input.value);
    });
  }

  async send(text) {
    showError(this.errorLine, "");
    const reply = await emitWithAck(this.socket, "message", { message: text });
    if (reply.ok) {
      if (this.input.value === text) this.input.value = "";
    } else {
      showError(this.errorLine, describeError(reply));
    }
  }

  /** History comes on every (re)connect: it replaces what is shown. */
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

  notice(text) {
    this.appendItem(element("li", { className: "notice", text }));
  }

  appendItem(item) {
    const atBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
    this.list.append(item);
    if (atBottom) this.list.scrollTop = this.list.scrollHeight;
  }
}

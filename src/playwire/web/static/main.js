// Entry point of the page: log in (or find the session cookie still valid), then connect
// to /chat and /forward and wire the chat, the online list and the game to them.

import * as api from "./api.js";
import { Chat } from "./chat.js";
import { Connection, emitWithAck, transportsFromQuery } from "./connection.js";
import { $, element, showError } from "./dom.js";
import { GameController } from "./game.js";
import { GameView } from "./game-view.js";
import { Presence } from "./presence.js";

// Tells the inline check in index.html that the modules loaded.
document.documentElement.dataset.started = "true";

const STATE_TEXT = {
  connecting: "connecting…",
  connected: "connected",
  reconnecting: "reconnecting…",
  offline: "offline",
};

const NOTICE_KEY = "playwire.login-notice";

let session = null; // what exists while logged in: {me, connection, ...}

async function boot() {
  wireLoginForm();
  $("logout").addEventListener("click", logOut);
  try {
    const me = await api.currentUser();
    if (me) {
      startSession(me);
    } else {
      showLogin(sessionStorage.getItem(NOTICE_KEY) || "");
      sessionStorage.removeItem(NOTICE_KEY);
    }
  } catch {
    showBanner("The server could not be reached. Reload the page to try again.");
  }
}

function wireLoginForm() {
  const form = $("login-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const action = event.submitter?.value === "register" ? api.register : api.login;
    showError($("login-error"), "");
    try {
      const user = await action($("username").value.trim(), $("password").value);
      $("password").value = "";
      startSession({ id: user.id, username: user.username });
    } catch (error) {
      showError($("login-error"), error.message);
    }
  });
}

function showLogin(message = "") {
  $("app-view").hidden = true;
  $("me").hidden = true;
  $("login-view").hidden = false;
  showError($("login-error"), message);
  renderConnection(null);
  $("username").focus();
}

function startSession(me) {
  $("login-view").hidden = true;
  $("app-view").hidden = false;
  $("me").hidden = false;
  $("me-name").textContent = me.username;

  const connection = new Connection({ transports: transportsFromQuery(window.location.search) });
  const chatPresence = new Presence(connection.chat);
  const forwardPresence = new Presence(connection.forward);
  const chat = new Chat({
    socket: connection.chat,
    me,
    list: $("messages"),
    form: $("chat-form"),
    input: $("chat-input"),
    errorLine: $("chat-error"),
  });
  const game = new GameController({
    me,
    send: (target, payload) => emitWithAck(connection.forward, "forward", { target, ...payload }),
  });
  new GameView(game);
  session = { me, connection, chatPresence, forwardPresence, game };

  connection.addEventListener("statechange", () => renderConnection(connection));
  connection.addEventListener("refused", () => onRefused(connection));
  connection.forward.on("connect", () => game.requestState());
  connection.forward.on("forwarded", (message) => game.receive(message));
  forwardPresence.addEventListener("change", ({ detail }) => {
    if (detail.left) game.userLeft(detail.left);
    renderOnline();
  });
  chatPresence.addEventListener("change", ({ detail }) => {
    if (detail.joined) chat.notice(`${detail.joined.username} joined.`);
    if (detail.left) chat.notice(`${detail.left.username} left.`);
    renderOnline();
  });
  game.addEventListener("change", renderOnline);
  renderConnection(connection);
  renderOnline();
}

/** The server refused a namespace: either the session is gone, or it was a hiccup. */
async function onRefused(connection) {
  const me = await api.currentUser().catch(() => undefined);
  if (me === null) {
    endSession("Your session has ended; please log in again.");
  } else {
    setTimeout(() => connection.retry(), 2000);
  }
}

async function logOut() {
  try {
    await api.logout();
  } finally {
    endSession("");
  }
}

/** Back to the login form through a reload: a fresh page holds no listener of the old
 * session. The message for the form survives the reload in sessionStorage. */
function endSession(message) {
  session?.connection.close();
  session = null;
  if (message) sessionStorage.setItem(NOTICE_KEY, message);
  window.location.reload();
}

/** The chat's presence is who is online; the invite button needs them on /forward too. */
function renderOnline() {
  if (!session) return;
  const { me, chatPresence, forwardPresence, game } = session;
  const users = chatPresence.list();
  $("online-count").textContent = `(${users.length})`;
  $("online").replaceChildren(
    ...users.map((user) => {
      const item = element("li", { className: "user", attrs: { "data-user": user.username } }, [
        element("span", { className: "name", text: user.username }),
      ]);
      if (user.id === me.id) {
        item.append(element("span", { className: "you", text: "you" }));
      } else {
        const invite = element("button", {
          className: "invite-button secondary",
          text: "Invite",
          attrs: { type: "button" },
        });
        invite.disabled = !game.canInvite() || !forwardPresence.has(user.id);
        invite.addEventListener("click", () => game.invite(user));
        item.append(invite);
      }
      return item;
    }),
  );
}

function renderConnection(connection) {
  // Logged out, there is no connection to speak of.
  $("connection").hidden = !connection;
  const state = connection ? connection.state : "offline";
  $("connection").dataset.state = state;
  $("connection-text").textContent = STATE_TEXT[state];
  $("transport").textContent = connection && state === "connected" ? connection.transport : "";
}

function showBanner(text) {
  $("banner").textContent = text;
  $("banner").hidden = !text;
}

boot();

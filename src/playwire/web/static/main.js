// Entry point of the page: log in (or find the session cookie still valid), then connect
// to /chat and /forward and wire the lobby's chat, the online list and the game (with its
// own room and chat) to them.

import * as api from "./api.js";
import { Chat, describeError } from "./chat.js";
import { Connection, emitWithAck, transportsFromQuery } from "./connection.js";
import { $, element, showError } from "./dom.js";
import { GameController } from "./game.js";
import { GameRoom } from "./game-room.js";
import { GameView } from "./game-view.js";
import { Presence, Room } from "./presence.js";

// Tells the inline check in index.html that the modules loaded.
document.documentElement.dataset.started = "true";

const STATE_TEXT = {
  connecting: "connecting…",
  connected: "connected",
  reconnecting: "reconnecting…",
  offline: "offline",
};

// Written on every login and logout, so that the user's other tabs follow (storage event).
const SESSION_CHANGE_KEY = "playwire.session-changed";

// The /chat room every tab joins: the page's main conversation (docs/web-client.md).
const LOBBY = "lobby";

const COUNT_FORMAT = new Intl.NumberFormat("en-US");

let session = null; // what exists while logged in: {me, connection, ...}
let sessionsStarted = 0;

async function boot() {
  window.addEventListener("storage", (event) => {
    if (event.key === SESSION_CHANGE_KEY) followOtherTab();
  });
  wireLoginForm();
  $("logout").addEventListener("click", logOut);
  try {
    const me = await api.currentUser();
    if (me) enterSession(me);
    else showLogin();
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
      announceSessionChange();
      enterSession({ id: user.id, username: user.username });
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

/** Listeners of an ended session die with it only on a fresh page: the second session of
 * a page load starts with a reload (the cookie logs it in). */
function enterSession(me) {
  if (sessionsStarted > 0) window.location.reload();
  else startSession(me);
}

function startSession(me) {
  sessionsStarted += 1;
  $("login-view").hidden = true;
  $("app-view").hidden = false;
  $("me").hidden = false;
  $("me-name").textContent = me.username;

  const connection = new Connection({ transports: transportsFromQuery(window.location.search) });
  const chatPresence = new Presence(connection.chat);
  const forwardPresence = new Presence(connection.forward);
  const lobby = new Room(connection.chat, LOBBY);
  const chat = new Chat({
    socket: connection.chat,
    me,
    room: LOBBY,
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
  new GameRoom({ socket: connection.chat, me, game });
  session = { me, connection, chatPresence, forwardPresence, lobby, game };

  connection.addEventListener("statechange", () => renderConnection(connection));
  connection.addEventListener("refused", () => onRefused(connection));
  // A recovered session was replayed every move it missed: nothing to ask for.
  connection.forward.on("connect", () => connection.forward.recovered || game.requestState());
  connection.forward.on("forwarded", (message) => game.receive(message));
  connection.forward.on("error", (reply) => game.showError(describeError(reply)));
  forwardPresence.addEventListener("change", ({ detail }) => {
    if (detail.joined) game.userJoined(detail.joined);
    if (detail.left) game.userLeft(detail.left);
    renderOnline();
  });
  chatPresence.addEventListener("change", renderOnline);
  lobby.addEventListener("joined", ({ detail }) => chat.showHistory(detail.history || []));
  lobby.addEventListener("failed", ({ detail }) => chat.showError(describeError(detail)));
  lobby.addEventListener("change", ({ detail }) => {
    if (detail.joined) chat.notice(`${detail.joined.username} joined.`);
    if (detail.left) chat.notice(`${detail.left.username} left.`);
    renderOnline();
  });
  // Failures of events sent without an ack (docs/protocol.md, "Rules for every event").
  connection.chat.on("error", (reply) => chat.showError(describeError(reply)));
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
    announceSessionChange();
  } finally {
    endSession("");
  }
}

/** Back to the login form. The connection is closed in place, not by leaving the page,
 * so that the server hears of it at once, on long-polling too. */
function endSession(message) {
  if (!session) return;
  session.connection.close();
  session = null;
  showLogin(message);
}

/** Another tab of this browser logged in or out: follow it. */
async function followOtherTab() {
  const me = await api.currentUser().catch(() => undefined);
  if (me === undefined || (session && me?.id === session.me.id)) return;
  endSession(me ? "" : "You logged out in another tab.");
  if (me) enterSession(me);
}

/** The chat's presence is who is online; the invite button needs them on /forward too.
 * Above the server's presence limit the namespace is a count alone: the page shows it, and
 * lists the lobby's users instead, so that there is still someone to invite. */
function renderOnline() {
  if (!session) return;
  const { me, chatPresence, forwardPresence, lobby, game } = session;
  const limited = chatPresence.limited;
  const users = limited ? lobby.list() : chatPresence.list();
  $("online-count").textContent = limited ? "" : `(${users.length})`;
  $("online-summary").hidden = !limited;
  $("online-summary").textContent = playersOnline(chatPresence.count);
  $("online-lobby").hidden = !limited;
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
        // A limited /forward does not say who is there: the invitation's ack will.
        const reachable = forwardPresence.limited || forwardPresence.has(user.id);
        invite.disabled = !game.canInvite() || !reachable;
        invite.addEventListener("click", () => game.invite(user));
        item.append(invite);
      }
      return item;
    }),
  );
}

function playersOnline(count) {
  return `${COUNT_FORMAT.format(count)} ${count === 1 ? "player" : "players"} online`;
}

function renderConnection(connection) {
  // Logged out, there is no connection to speak of.
  $("connection").hidden = !connection;
  const state = connection ? connection.state : "offline";
  $("connection").dataset.state = state;
  $("connection").dataset.resumed = String(Boolean(connection?.resumed));
  $("connection-text").textContent = STATE_TEXT[state];
  $("transport").textContent = connection && state === "connected" ? connection.transport : "";
}

function announceSessionChange() {
  localStorage.setItem(SESSION_CHANGE_KEY, String(Date.now()));
}

function showBanner(text) {
  $("banner").textContent = text;
  $("banner").hidden = !text;
}

boot();

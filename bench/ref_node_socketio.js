#!/usr/bin/env node
/**
 * Reference server: Node.js socket.io 4.8 with Playwire's /chat and /forward semantics
 * (docs/protocol.md, "Presence", "`/chat`", "`/forward`"), used by the benchmark as the yardstick
 * Playwire is compared to (bench/README.md, "The goals").
 *
 * Identity comes from the handshake `auth: {user_id: N}` (username "user"+N) instead of a
 * signed token: the benchmark measures message handling, not authentication.
 * Validation (payload shape, target type) is kept because Playwire pays for it too.
 *
 * As a cluster node (the benchmark's cluster reference), it shares its rooms with the other
 * nodes through `@socket.io/redis-adapter`, the adapter socket.io documents for Redis. The
 * adapter does not wait for Redis: an emit is answered before its publish is confirmed. And
 * `target_offline` is told from this node's sessions only, as the benchmark's pairs are local.
 *
 * Usage: node ref_node_socketio.js [PORT] [REDIS_URL]   (or PORT=..., REDIS_URL=...)
 */
"use strict";

const http = require("http");
const { Server } = require("socket.io");

const PORT = Number(process.argv[2] || process.env.PORT || 5101);
const REDIS_URL = process.argv[3] || process.env.REDIS_URL || "";
const HOST = process.env.HOST || "127.0.0.1";
const HISTORY_LIMIT = 50;
const MAX_MESSAGE_CHARS = 2000;

/** GET /healthz answers 200 so the runner can tell the server is ready, like Playwire. */
const httpServer = http.createServer((req, res) => {
  if (req.url === "/healthz") {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end('{"status":"ok"}');
    return;
  }
  res.writeHead(404);
  res.end();
});

const io = new Server(httpServer, { serveClient: false });

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Replies as docs/protocol.md ("Rules for every event") says: through the ack when asked for one, else as an `error` event. */
function replyError(socket, ack, event, error, message) {
  if (typeof ack === "function") ack({ ok: false, error, message });
  else socket.emit("error", { event, error, message });
}

/** Refuses a handshake without a usable user id, like Playwire refuses one without a token. */
function authenticate(socket, next) {
  const userId = socket.handshake.auth && socket.handshake.auth.user_id;
  if (!Number.isInteger(userId)) {
    next(new Error("authentication required"));
    return;
  }
  socket.data.user = { id: userId, username: "user" + userId };
  next();
}

/**
 * Presence with per-user session counting (docs/protocol.md, "Presence"): `user_joined` on a user's first session in
 * the namespace, `user_left` on their last, and `presence` to every newcomer.
 */
function attachPresence(nsp) {
  const sessionsByUser = new Map();
  nsp.use(authenticate);
  nsp.on("connection", (socket) => {
    const user = socket.data.user;
    socket.join("user:" + user.id);
    const count = (sessionsByUser.get(user.id) || 0) + 1;
    sessionsByUser.set(user.id, count);
    if (count === 1) socket.broadcast.emit("user_joined", user);
    const users = [...sessionsByUser.keys()].map((id) => ({ id, username: "user" + id }));
    socket.emit("presence", { users });
    socket.on("disconnect", () => {
      const left = sessionsByUser.get(user.id) - 1;
      if (left > 0) {
        sessionsByUser.set(user.id, left);
        return;
      }
      sessionsByUser.delete(user.id);
      nsp.emit("user_left", user);
    });
  });
  return sessionsByUser;
}

/** /chat (docs/protocol.md, "`/chat`"): server-built message, kept in an in-memory history, sent to everyone. */
function setupChat() {
  const nsp = io.of("/chat");
  attachPresence(nsp);
  const history = [];
  let nextId = 1;
  nsp.on("connection", (socket) => {
    socket.emit("history", { messages: history });
    socket.on("message", (data, ack) => {
      if (!isObject(data)) return replyError(socket, ack, "message", "invalid_payload", "data must be an object");
      const text = data.message;
      if (typeof text !== "string" || text.length === 0 || text.length > MAX_MESSAGE_CHARS) {
        return replyError(socket, ack, "message", "invalid_message", "message must be 1-2000 characters");
      }
      const user = socket.data.user;
      const message = { id: nextId++, user_id: user.id, username: user.username, message: text, timestamp: Date.now() };
      history.push(message);
      if (history.length > HISTORY_LIMIT) history.shift();
      nsp.emit("message", message);
      if (typeof ack === "function") ack({ ok: true, id: message.id, timestamp: message.timestamp });
    });
  });
}

/**
 * /forward (docs/protocol.md, "`/forward`"): to every session of the target and every other session of the sender,
 * each once. `socket.to([...rooms])` takes the union of the rooms and skips the sending socket.
 */
function setupForward() {
  const nsp = io.of("/forward");
  const sessionsByUser = attachPresence(nsp);
  nsp.on("connection", (socket) => {
    socket.on("forward", (data, ack) => {
      if (!isObject(data)) return replyError(socket, ack, "forward", "invalid_payload", "data must be an object");
      const target = data.target;
      if (!Number.isInteger(target)) return replyError(socket, ack, "forward", "invalid_target", "target must be a user id");
      if (!sessionsByUser.has(target)) return replyError(socket, ack, "forward", "target_offline", "target is not connected");
      const sender = socket.data.user.id;
      socket.to(["user:" + target, "user:" + sender]).emit("forwarded", { ...data, sender });
      if (typeof ack === "function") ack({ ok: true });
    });
  });
}

/** A cluster node: rooms shared with the other nodes through Redis, before any connection. */
async function joinCluster(url) {
  const { createClient } = require("redis");
  const { createAdapter } = require("@socket.io/redis-adapter");
  const publisher = createClient({ url });
  const subscriber = publisher.duplicate();
  await Promise.all([publisher.connect(), subscriber.connect()]);
  io.adapter(createAdapter(publisher, subscriber));
}

async function main() {
  if (REDIS_URL) await joinCluster(REDIS_URL);
  setupChat();
  setupForward();
  httpServer.listen(PORT, HOST, () => {
    console.log(`ref_node_socketio listening on http://${HOST}:${PORT}${REDIS_URL ? " with " + REDIS_URL : ""}`);
  });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));

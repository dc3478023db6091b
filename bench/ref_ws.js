#!/usr/bin/env node
/**
 * Ceiling reference: the /forward relay (docs/protocol.md, "`/forward`") on raw WebSockets (`ws`), with no Socket.IO
 * framing, rooms or polling fallback. No Socket.IO server can beat it; it shows the headroom.
 *
 * Protocol (one JSON object per WebSocket message):
 *   connect  ws://HOST:PORT/forward?user_id=N
 *   server → {"type":"presence","data":{"users":[...]}} then user_joined / user_left as in §4
 *   client → {"type":"forward","data":{"target":ID,...},"id":ACK_ID?}
 *   server → {"type":"forwarded","data":{...,"sender":ID}} to the target's and the sender's other
 *            sessions, each once; {"type":"ack","id":ACK_ID,"data":{"ok":true}} if an id was sent.
 *
 * Usage: node ref_ws.js [PORT]   (or PORT=... in the environment)
 */
"use strict";

const http = require("http");
const { WebSocketServer } = require("ws");

const PORT = Number(process.argv[2] || process.env.PORT || 5103);
const HOST = process.env.HOST || "127.0.0.1";

const httpServer = http.createServer((req, res) => {
  res.writeHead(req.url === "/healthz" ? 200 : 404, { "Content-Type": "application/json" });
  res.end(req.url === "/healthz" ? '{"status":"ok"}' : "");
});
const wss = new WebSocketServer({ server: httpServer });

/** user id → Set of that user's open sockets: the "room" of the user. */
const socketsByUser = new Map();

function send(ws, type, data) {
  ws.send(JSON.stringify({ type, data }));
}

function broadcastExcept(except, type, data) {
  const frame = JSON.stringify({ type, data });
  for (const client of wss.clients) if (client !== except) client.send(frame);
}

function userOf(req) {
  const raw = new URL(req.url, "http://localhost").searchParams.get("user_id");
  const id = Number(raw);
  return raw !== null && Number.isInteger(id) ? { id, username: "user" + id } : null;
}

function reply(ws, ackId, data) {
  if (ackId !== undefined) ws.send(JSON.stringify({ type: "ack", id: ackId, data }));
  else if (!data.ok) send(ws, "error", { event: "forward", error: data.error, message: data.message });
}

/** Same delivery rule as Socket.IO's `socket.to([target room, sender room])`. */
function forward(ws, user, data, ackId) {
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    return reply(ws, ackId, { ok: false, error: "invalid_payload", message: "data must be an object" });
  }
  if (!Number.isInteger(data.target)) {
    return reply(ws, ackId, { ok: false, error: "invalid_target", message: "target must be a user id" });
  }
  const targets = socketsByUser.get(data.target);
  if (!targets) return reply(ws, ackId, { ok: false, error: "target_offline", message: "target is not connected" });
  const frame = JSON.stringify({ type: "forwarded", data: { ...data, sender: user.id } });
  for (const peer of targets) if (peer !== ws) peer.send(frame);
  if (data.target !== user.id) {
    for (const peer of socketsByUser.get(user.id)) if (peer !== ws) peer.send(frame);
  }
  reply(ws, ackId, { ok: true });
}

function join(ws, user) {
  let sockets = socketsByUser.get(user.id);
  if (!sockets) {
    sockets = new Set();
    socketsByUser.set(user.id, sockets);
    broadcastExcept(ws, "user_joined", user);
  }
  sockets.add(ws);
  const users = [...socketsByUser.keys()].map((id) => ({ id, username: "user" + id }));
  send(ws, "presence", { users });
}

function leave(ws, user) {
  const sockets = socketsByUser.get(user.id);
  sockets.delete(ws);
  if (sockets.size > 0) return;
  socketsByUser.delete(user.id);
  broadcastExcept(ws, "user_left", user);
}

wss.on("connection", (ws, req) => {
  const user = userOf(req);
  if (!user) {
    ws.close(4001, "authentication required");
    return;
  }
  join(ws, user);
  ws.on("message", (raw) => {
    let msg;
    try {
      msg = JSON.parse(raw);
    } catch {
      return send(ws, "error", { event: null, error: "invalid_payload", message: "not JSON" });
    }
    if (msg && msg.type === "forward") forward(ws, user, msg.data, msg.id);
  });
  ws.on("close", () => leave(ws, user));
});

httpServer.listen(PORT, HOST, () => {
  console.log(`ref_ws listening on ws://${HOST}:${PORT}`);
});
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));

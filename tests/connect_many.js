#!/usr/bin/env node
/**
 * Connects many sessions to one namespace, a bounded number in flight, and reports how long
 * it took and what presence each session got. Used by tests/test_presence_limit.py (a
 * Python client per session would measure the test process, not the server).
 *
 *   node tests/connect_many.js < CONFIG.json
 *
 * CONFIG: {"url", "namespace", "transport", "tokens": [...], "inFlight": 50, "timeoutMs"}
 * Prints one JSON line: {"elapsedMs", "connected", "failed", "limited", "listed",
 * "maxUsers", "lastCount", "events": {name: count}} where "limited" counts sessions whose
 * presence was the count alone and "listed" those that got a list; then disconnects all.
 */
"use strict";

const { io } = require("socket.io-client");

function connectOne(config, token, result) {
  return new Promise((resolve) => {
    const socket = io(config.url + config.namespace, {
      auth: { token },
      transports: [config.transport],
      reconnection: false,
      forceNew: true,
      timeout: config.timeoutMs,
    });
    socket.onAny((event, data) => {
      result.events[event] = (result.events[event] || 0) + 1;
      if (event === "presence_count") result.lastCount = data.count;
    });
    socket.once("presence", (presence) => {
      result.connected += 1;
      if (presence.limited) result.limited += 1;
      else result.listed += 1;
      result.maxUsers = Math.max(result.maxUsers, presence.users.length);
      result.lastCount = presence.count;
      resolve(socket);
    });
    socket.once("connect_error", (error) => {
      result.failed += 1;
      result.errors.push(String(error && error.message));
      resolve(socket);
    });
  });
}

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const config = { inFlight: 50, timeoutMs: 60000, ...JSON.parse(Buffer.concat(chunks)) };
  const result = {
    connected: 0, failed: 0, limited: 0, listed: 0, maxUsers: 0, lastCount: null,
    events: {}, errors: [],
  };
  const sockets = [];
  let next = 0;
  const started = Date.now();
  async function worker() {
    while (next < config.tokens.length) {
      const token = config.tokens[next++];
      sockets.push(await connectOne(config, token, result));
    }
  }
  await Promise.all(Array.from({ length: config.inFlight }, worker));
  result.elapsedMs = Date.now() - started;
  result.errors = result.errors.slice(0, 5);
  if (config.holdMs) await new Promise((resolve) => setTimeout(resolve, config.holdMs));
  process.stdout.write(JSON.stringify(result) + "\n");
  sockets.forEach((socket) => socket.disconnect());
  setTimeout(() => process.exit(0), 2000); // polling sends its close packets
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

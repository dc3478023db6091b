#!/usr/bin/env node
/**
 * Plays the README's example "Rooms: a four-player match" as written, for four players, with
 * the official socket.io-client (default options), and reports what its callbacks saw. Used
 * by tests/test_rooms.py.
 *
 *   node tests/readme_match.js < CONFIG.json
 *
 * CONFIG: {"url", "snippet": the README's code, "players": [token x 4], "outsider": token}.
 * Each player runs the snippet (its `io(namespace)` is the browser's, authenticated by the
 * player's token), one after the other, so each joins once the previous one listens. Then a
 * user outside the match connects to /forward and leaves, and the last player disconnects.
 * Prints one JSON line: {"players": [{"added", "removed", "applied", "shown"}, ...]}, the
 * calls of each player's addPlayer / removePlayer (ids), apply (moves) and show (texts).
 */
"use strict";

const { io } = require("socket.io-client");

const TIMEOUT_MS = 20000;

function readConfig() {
  return new Promise((resolve) => {
    let text = "";
    process.stdin.on("data", (chunk) => (text += chunk));
    process.stdin.on("end", () => resolve(JSON.parse(text)));
  });
}

/** Resolves once `condition()` holds, checked after each event at `sockets` has reached
 * its handlers (a catch-all listener runs before them). */
function until(sockets, condition, what, report) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`timed out waiting for ${what}; seen: ${JSON.stringify(report)}`));
    }, TIMEOUT_MS);
    const check = () => {
      if (condition()) {
        clearTimeout(timer);
        for (const socket of sockets) socket.offAny(later);
        resolve();
      }
    };
    const later = () => setImmediate(check);
    for (const socket of sockets) socket.onAny(later);
    check();
  });
}

async function play(config, token, seen) {
  const connect = (namespace) => io(config.url + namespace, { auth: { token } });
  const callbacks = {
    addPlayer: (id) => seen.added.push(id),
    removePlayer: (id) => seen.removed.push(id),
    apply: (move) => seen.applied.push(move),
    show: (message) => seen.shown.push(message.message),
  };
  const names = Object.keys(callbacks);
  const body = config.snippet + "\nreturn { game, chat };";
  const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor;
  const run = new AsyncFunction("io", ...names, body);
  const sockets = await run(connect, ...names.map((name) => callbacks[name]));
  // What reached the player, whatever the snippet's handlers made of it.
  seen.left = [];
  sockets.game.on("user_left", (user) => seen.left.push(user));
  return sockets;
}

async function main() {
  const config = await readConfig();
  const seen = config.players.map(() => ({ added: [], removed: [], applied: [], shown: [] }));
  const players = [];
  for (const [n, token] of config.players.entries()) {
    players.push(await play(config, token, seen[n]));
  }
  const all = players.flatMap(({ game, chat }) => [game, chat]);
  const count = players.length;
  await until(
    all,
    // Player n hears the moves and messages of those who came after it (and its own message).
    () => seen.every((s, n) => s.applied.length === count - 1 - n && s.shown.length === count - n),
    "every move and message",
    seen
  );

  const outsiderAuth = { auth: { token: config.outsider }, forceNew: true };
  const outsider = io(config.url + "/forward", outsiderAuth);
  await new Promise((resolve) => outsider.once("presence", resolve));
  outsider.disconnect();
  const games = players.map(({ game }) => game);
  const outsiderLeft = () => seen.every((s) => s.left.length === 1);
  await until(games, outsiderLeft, "the outsider's user_left", seen);

  players[count - 1].game.disconnect();
  const stay = seen.slice(0, count - 1);
  // Its room's user_left, then the namespace's.
  const lastLeft = () => stay.every((s) => s.left.length === 3);
  await until(games, lastLeft, "the last player's user_left", seen);

  process.stdout.write(JSON.stringify({ players: seen }) + "\n");
  for (const socket of all) socket.disconnect();
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(String(error && error.stack ? error.stack : error) + "\n");
    process.exit(1);
  }
);

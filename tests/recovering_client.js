#!/usr/bin/env node
/**
 * One official socket.io-client session, driven by a test through JSON lines, for the
 * connection state recovery tests (tests/test_recovery.py, via tests/helpers/node.py).
 *
 *   node tests/recovering_client.js URL NAMESPACE '{"auth": {...}, "transports": [...]}'
 *
 * Commands on stdin, one JSON object a line:
 *   {"cmd": "emit", "event", "data", "id"}   emit with an ack; prints {"type": "ack", "id", "data"}
 *   {"cmd": "drop"}          close the transport under the socket (socket.io.engine.close()):
 *                            the Manager reconnects by itself, if reconnection is on
 *   {"cmd": "dropAfter", "event", "count"}   cut the connection (see cutConnection) as the
 *                            COUNTth such event is received
 *   {"cmd": "connect"}       reconnect by hand (reconnection off)
 *   {"cmd": "moveTo", "url"} reconnect to another server from now on (another node of a
 *                            cluster): the next connection, by hand or by the Manager, goes
 *                            there, with the same pid and offset
 *   {"cmd": "disconnect"}    the client's clean disconnect()
 * The process ends when its stdin does.
 * Printed, one JSON object a line: {"type": "connect", "id", "recovered"},
 * {"type": "event", "event", "data", "offset"}, {"type": "disconnect", "reason"},
 * {"type": "connect_error", "message"}, {"type": "ack", ...}; with "reportPings" in the
 * options, {"type": "ping"} as each Engine.IO ping arrives (its pong follows); and
 * {"type": "upgrade"} as a connection upgrades from long-polling to WebSocket.
 */
"use strict";

const readline = require("readline");
const { io } = require("socket.io-client");

const [url, namespace, optionsJson] = process.argv.slice(2);
const options = JSON.parse(optionsJson || "{}");

function print(message) {
  process.stdout.write(JSON.stringify(message) + "\n");
}

const socket = io(url + namespace, {
  auth: options.auth || {},
  transports: options.transports || ["websocket"],
  reconnection: options.reconnection !== false,
  reconnectionDelay: 50,
  reconnectionDelayMax: 200,
  forceNew: true,
});

let dropOn = null; // {event, count}

/**
 * A network drop: on a WebSocket the TCP connection is destroyed, so what the server wrote
 * and this client did not read yet is lost; on long-polling the transport is closed, on a
 * later tick. (Not engine.close() from within a listener: the Manager hands decoded packets
 * over on a later tick, so packets that arrived with this one would reach the socket after
 * the close, be buffered and emitted after the reconnect, besides the replay.)
 */
function cutConnection() {
  const ws = socket.io.engine.transport.ws;
  if (ws && ws._socket) {
    ws._socket.destroy();
  } else {
    setTimeout(() => socket.io.engine.close(), 0);
  }
}
const counts = {};

socket.on("connect", () => print({ type: "connect", id: socket.id, recovered: socket.recovered }));
socket.on("disconnect", (reason) => print({ type: "disconnect", reason }));
if (options.reportPings) socket.io.on("ping", () => print({ type: "ping" }));
socket.io.on("open", () => socket.io.engine.on("upgrade", () => print({ type: "upgrade" })));
socket.on("connect_error", (error) => print({ type: "connect_error", message: error.message }));
socket.onAny((event, data, offset) => {
  print({ type: "event", event, data, offset: typeof offset === "string" ? offset : null });
  counts[event] = (counts[event] || 0) + 1;
  if (dropOn && dropOn.event === event && counts[event] === dropOn.count) {
    dropOn = null;
    cutConnection();
  }
});

const commands = {
  emit(command) {
    socket.emit(command.event, command.data, (reply) =>
      print({ type: "ack", id: command.id, data: reply }),
    );
  },
  drop() {
    socket.io.engine.close();
  },
  dropAfter(command) {
    dropOn = { event: command.event, count: command.count };
  },
  connect() {
    socket.connect();
  },
  moveTo(command) {
    socket.io.uri = command.url; // the Manager opens each new Engine.IO connection there
    print({ type: "moved" });
  },
  disconnect() {
    socket.disconnect();
    print({ type: "closed" });
  },
};

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const command = JSON.parse(line);
  commands[command.cmd](command);
});
process.stdin.on("end", () => process.exit(0));

// One Engine.IO connection (a socket.io-client Manager) carrying the /chat and /forward
// namespaces, and what the page shows about it: connecting, connected, reconnecting, offline.

import { Manager } from "/vendor/socket.io/socket.io.esm.min.js";

const TRANSPORTS = {
  polling: ["polling"],
  websocket: ["websocket"],
};

/** `?transport=polling` or `?transport=websocket` forces one transport; the default is
 * socket.io's own: long-polling first, upgraded to WebSocket when it can be. */
export function transportsFromQuery(search) {
  const forced = new URLSearchParams(search).get("transport");
  return TRANSPORTS[forced] || ["polling", "websocket"];
}

export class Connection extends EventTarget {
  constructor({ transports }) {
    super();
    this.everConnected = false;
    this.refusal = null; // why the server refused us, once it has
    this.manager = new Manager(window.location.origin, {
      transports,
      // Come back quickly after a server restart; socket.io's default caps at 5 s.
      reconnectionDelay: 500,
      reconnectionDelayMax: 2000,
      // Not the Manager's own goodbye when the page goes away: it closes the transport
      // at once, before the sockets' DISCONNECT packets are written (see leave()).
      closeOnBeforeunload: false,
    });
    // Leaving the page is leaving: the sockets' disconnect() tells the server so, then the
    // Manager closes the transport once they are written. A closed transport alone would
    // be held for recovery, and the user would linger in everyone's online list for the
    // window (docs/protocol.md, "Reconnecting without losing a message").
    window.addEventListener("beforeunload", () => this.leave());
    this.manager.on("open", () => this.watchTransport());
    this.chat = this.watchSocket(this.manager.socket("/chat"));
    this.forward = this.watchSocket(this.manager.socket("/forward"));
    window.addEventListener("online", () => this.changed());
    window.addEventListener("offline", () => this.changed());
  }

  watchSocket(socket) {
    socket.on("connect", () => {
      this.everConnected = true;
      this.refusal = null;
      this.changed();
    });
    socket.on("disconnect", () => this.changed());
    socket.on("connect_error", (error) => {
      // A socket that is no longer active was refused by the server (authentication);
      // an active one is still being retried by the manager (the server is down).
      if (!socket.active) {
        this.refusal = error.message;
        this.dispatchEvent(new CustomEvent("refused", { detail: error.message }));
      }
      this.changed();
    });
    return socket;
  }

  watchTransport() {
    const engine = this.manager.engine;
    engine.on("upgrade", () => this.changed());
    this.changed();
  }

  /** Whether both sockets came back with their session recovered (socket.io's connection
   * state recovery): they missed nothing while away (docs/protocol.md, "Reconnecting
   * without losing a message"). */
  get resumed() {
    return Boolean(this.chat.recovered && this.forward.recovered);
  }

  get transport() {
    return this.manager.engine?.transport?.name || "";
  }

  get state() {
    if (!navigator.onLine || this.refusal || this.closed) return "offline";
    if (this.chat.connected && this.forward.connected) return "connected";
    return this.everConnected ? "reconnecting" : "connecting";
  }

  /** Try again after a refusal that turned out not to be final. */
  retry() {
    this.refusal = null;
    for (const socket of [this.chat, this.forward]) if (!socket.active) socket.connect();
    this.changed();
  }

  leave() {
    this.chat.disconnect();
    this.forward.disconnect();
  }

  close() {
    this.closed = true;
    this.chat.disconnect();
    this.forward.disconnect();
    this.manager.engine?.close();
    this.changed();
  }

  changed() {
    this.dispatchEvent(new Event("statechange"));
  }
}

/** Emit with an acknowledgement; resolves to the ack, or to an error ack of our own when
 * the socket is offline or the server does not answer in time. */
export async function emitWithAck(socket, event, data, timeoutMs = 10000) {
  if (!socket.connected) {
    return { ok: false, error: "not_connected", message: "Not connected to the server." };
  }
  try {
    return await socket.timeout(timeoutMs).emitWithAck(event, data);
  } catch {
    return { ok: false, error: "timeout", message: "The server did not answer in time." };
  }
}

// Who is online in one namespace (docs/protocol.md, "Presence"), and who is in one room
// ("Rooms"): one entry per user, however many sessions.

import { emitWithAck } from "./connection.js";

const byName = (a, b) => a.username.localeCompare(b.username, undefined, { sensitivity: "base" });

/** Users by id, and the events that change them. */
class UserSet extends EventTarget {
  constructor() {
    super();
    this.users = new Map(); // id -> username
  }

  has(id) {
    return this.users.has(id);
  }

  /** Users sorted by name, case-insensitively, as [{id, username}]. */
  list() {
    return [...this.users].map(([id, username]) => ({ id, username })).sort(byName);
  }

  replace(users) {
    this.users = new Map(users.map((user) => [user.id, user.username]));
  }

  add(user) {
    this.users.set(user.id, user.username);
  }

  remove(user) {
    this.users.delete(user.id);
  }

  changed(detail = {}) {
    this.dispatchEvent(new CustomEvent("change", { detail }));
  }
}

/** The namespace's presence. Above the server's presence limit it is a count alone
 * (`limited`), kept up to date by `presence_count`, until a full `presence` comes back. */
export class Presence extends UserSet {
  constructor(socket) {
    super();
    this.limited = false;
    this.count = 0;
    socket.on("presence", ({ users, count, limited }) => {
      this.replace(users);
      this.limited = limited === true;
      this.count = Number.isInteger(count) ? count : users.length;
      this.changed();
    });
    socket.on("presence_count", ({ count }) => {
      this.count = count;
      this.changed();
    });
    socket.on("user_joined", (user) => this.onJoined(user));
    socket.on("user_left", (user) => this.onLeft(user));
  }

  onJoined(user) {
    if (user.room !== undefined) return; // a room's presence, not the namespace's
    this.add(user);
    this.count = this.users.size;
    this.changed({ joined: user });
  }

  onLeft(user) {
    if (user.room !== undefined) return;
    this.remove(user);
    this.count = this.users.size;
    this.changed({ left: user });
  }
}

/** A room this tab is in, on one socket: joined on every (re)connection (a disconnect
 * leaves every room), its users from the `join` ack and then from the room's
 * `user_joined` / `user_left`. Events that arrive while the join is in flight are applied
 * after the ack's list. Dispatches "joined" with the ack (in /chat, its `history`). */
export class Room extends UserSet {
  constructor(socket, name) {
    super();
    this.socket = socket;
    this.name = name;
    this.joined = false;
    this.pending = null; // events seen while joining
    this.error = null;
    this.handlers = {
      connect: () => this.join(),
      disconnect: () => {
        this.joined = false;
      },
      user_joined: (user) => this.onEvent("joined", user),
      user_left: (user) => this.onEvent("left", user),
    };
    for (const [event, handler] of Object.entries(this.handlers)) socket.on(event, handler);
    if (socket.connected) this.join();
  }

  async join() {
    this.pending = [];
    const reply = await emitWithAck(this.socket, "join", { room: this.name });
    if (this.closed) return;
    const pending = this.pending;
    this.pending = null;
    if (!reply.ok) {
      this.error = reply;
      this.dispatchEvent(new CustomEvent("failed", { detail: reply }));
      return;
    }
    this.error = null;
    this.joined = true;
    this.replace(reply.users);
    this.dispatchEvent(new CustomEvent("joined", { detail: reply }));
    this.changed();
    for (const [kind, user] of pending) this.apply(kind, user);
  }

  onEvent(kind, user) {
    if (user.room !== this.name) return;
    if (this.pending) this.pending.push([kind, user]);
    else this.apply(kind, user);
  }

  apply(kind, user) {
    if (kind === "joined") this.add(user);
    else this.remove(user);
    this.changed({ [kind]: user });
  }

  /** Leave the room for good (this tab no longer wants it). */
  leave() {
    this.closed = true;
    for (const [event, handler] of Object.entries(this.handlers)) this.socket.off(event, handler);
    if (this.socket.connected) emitWithAck(this.socket, "leave", { room: this.name });
  }
}

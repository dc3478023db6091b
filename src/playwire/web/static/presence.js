// Who is online in one namespace (docs/protocol.md, "Presence"): one entry per user,
// however many sessions.

export class Presence extends EventTarget {
  constructor(socket) {
    super();
    this.users = new Map(); // id -> username
    socket.on("presence", ({ users }) => {
      this.users = new Map(users.map((user) => [user.id, user.username]));
      this.changed();
    });
    socket.on("user_joined", (user) => {
      this.users.set(user.id, user.username);
      this.changed({ joined: user });
    });
    socket.on("user_left", (user) => {
      this.users.delete(user.id);
      this.changed({ left: user });
    });
  }

  has(id) {
    return this.users.has(id);
  }

  /** Users sorted by name, case-insensitively, as [{id, username}]. */
  list() {
    return [...this.users]
      .map(([id, username]) => ({ id, username }))
      .sort((a, b) => a.username.localeCompare(b.username, undefined, { sensitivity: "base" }));
  }

  changed(detail = {}) {
    this.dispatchEvent(new CustomEvent("change", { detail }));
  }
}

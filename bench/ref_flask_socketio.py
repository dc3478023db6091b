"""Reference server: plain Flask-SocketIO with Playwire's /chat and /forward semantics.

It is what a Python developer would write with the stock stack (gevent + gevent-websocket,
default Flask-SocketIO settings, class-based namespaces), so the benchmark can tell how much of
Playwire's speed comes from its own work rather than from the framework. Identity comes from the
handshake ``auth={"user_id": N}`` (username ``"user" + N``), not from a signed token.

Usage: python ref_flask_socketio.py [PORT]   (or PORT=... in the environment)
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import deque  # noqa: E402

from flask import Flask, request  # noqa: E402
from flask_socketio import ConnectionRefusedError, Namespace, SocketIO, emit, join_room  # noqa: E402

HISTORY_LIMIT = 50
MAX_MESSAGE_CHARS = 2000

app = Flask(__name__)
socketio = SocketIO(app, async_mode="gevent")


@app.route("/healthz")
def healthz():
    """Readiness probe for the benchmark runner, the same URL Playwire serves."""
    return {"status": "ok"}


def error_reply(error: str, message: str) -> dict:
    """Return the error ack of docs/protocol.md, "Rules for every event".

    Flask-SocketIO sends a handler's return value as the ack when the client asked for one and
    does not tell the handler whether it did, so the ``error`` event for ack-less emits is left
    out: the benchmark never sends invalid events, so that path is never taken.
    """
    return {"ok": False, "error": error, "message": message}


class PresenceNamespace(Namespace):
    """Authentication, per-user rooms and presence with per-user session counts
    (docs/protocol.md, "Presence")."""

    def __init__(self, namespace: str):
        super().__init__(namespace)
        self.sessions_by_user: dict[int, int] = {}
        self.user_by_sid: dict[str, dict] = {}

    def on_connect(self, auth=None):
        user_id = auth.get("user_id") if isinstance(auth, dict) else None
        if not isinstance(user_id, int) or isinstance(user_id, bool):
            raise ConnectionRefusedError("authentication required")
        user = {"id": user_id, "username": f"user{user_id}"}
        self.user_by_sid[request.sid] = user
        join_room(f"user:{user_id}")
        count = self.sessions_by_user.get(user_id, 0) + 1
        self.sessions_by_user[user_id] = count
        if count == 1:
            emit("user_joined", user, broadcast=True, skip_sid=request.sid)
        users = [{"id": uid, "username": f"user{uid}"} for uid in self.sessions_by_user]
        emit("presence", {"users": users})

    def on_disconnect(self, reason=None):
        user = self.user_by_sid.pop(request.sid, None)
        if user is None:
            return
        left = self.sessions_by_user[user["id"]] - 1
        if left > 0:
            self.sessions_by_user[user["id"]] = left
            return
        del self.sessions_by_user[user["id"]]
        emit("user_left", user, broadcast=True, include_self=False)

    def current_user(self) -> dict:
        return self.user_by_sid[request.sid]


class ChatNamespace(PresenceNamespace):
    """/chat (docs/protocol.md, "`/chat`") with the history in memory instead of a database."""

    def __init__(self, namespace: str):
        super().__init__(namespace)
        self.history: deque[dict] = deque(maxlen=HISTORY_LIMIT)
        self.next_id = 1

    def on_connect(self, auth=None):
        super().on_connect(auth)
        emit("history", {"messages": list(self.history)})

    def on_message(self, data):
        if not isinstance(data, dict):
            return error_reply("invalid_payload", "data must be an object")
        text = data.get("message")
        if not isinstance(text, str) or not 0 < len(text) <= MAX_MESSAGE_CHARS:
            return error_reply("invalid_message", "message must be 1-2000 characters")
        user = self.current_user()
        message = {
            "id": self.next_id,
            "user_id": user["id"],
            "username": user["username"],
            "message": text,
            "timestamp": int(time.time() * 1000),
        }
        self.next_id += 1
        self.history.append(message)
        emit("message", message, broadcast=True)
        return {"ok": True, "id": message["id"], "timestamp": message["timestamp"]}


class ForwardNamespace(PresenceNamespace):
    """/forward (docs/protocol.md, "`/forward`"); python-socketio dedupes a list of rooms: one
    copy per session."""

    def on_forward(self, data):
        if not isinstance(data, dict):
            return error_reply("invalid_payload", "data must be an object")
        target = data.get("target")
        if not isinstance(target, int) or isinstance(target, bool):
            return error_reply("invalid_target", "target must be a user id")
        if target not in self.sessions_by_user:
            return error_reply("target_offline", "target is not connected")
        sender = self.current_user()["id"]
        rooms = [f"user:{target}", f"user:{sender}"]
        emit("forwarded", {**data, "sender": sender}, to=rooms, skip_sid=request.sid)
        return {"ok": True}


socketio.on_namespace(ChatNamespace("/chat"))
socketio.on_namespace(ForwardNamespace("/forward"))


def main() -> None:
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT", "5102"))
    host = os.environ.get("HOST", "127.0.0.1")
    print(f"ref_flask_socketio listening on http://{host}:{port}", flush=True)
    socketio.run(app, host=host, port=port)


if __name__ == "__main__":
    main()

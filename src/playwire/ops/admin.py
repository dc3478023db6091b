"""The Socket.IO Admin UI: python-socketio's instrumentation on ``/admin`` and the UI's page.

``--admin-password`` turns both on. The page is the official UI's build (``ui/dist`` of the
pinned ``@socket.io/admin-ui`` npm package, installed by ``npm ci``), served at
``/admin/ui/`` so that an operator needs no outside site; it connects back to the same
origin, which the Socket.IO origin check allows. The UI itself fetches its fonts and icons
from public CDNs; without them it works, with plain text where icons would be.
"""

from __future__ import annotations

import hmac
from typing import Any

import socketio as python_socketio
from flask import Blueprint, Flask, redirect, send_from_directory

from playwire.upstream.socketio_admin import PlaywireInstrumentedServer
from playwire.web import find_npm_folder

ADMIN_NAMESPACE = "/admin"
ADMIN_USERNAME = "admin"
ADMIN_UI_DIST = "@socket.io/admin-ui/ui/dist"

blueprint = Blueprint("admin_ui", __name__)


def instrument(server: python_socketio.Server, password: str) -> PlaywireInstrumentedServer:
    """Report sockets, rooms and events on ``/admin`` to clients with the admin's password.

    "development" mode, which the UI needs to list sockets: every emit is also reported to
    the admins, which costs forward throughput (see docs/benchmarks.md).
    """

    def authenticate(auth: Any) -> bool:
        if not isinstance(auth, dict) or not isinstance(auth.get("password"), str):
            return False
        good_user = auth.get("username") == ADMIN_USERNAME
        good_password = hmac.compare_digest(auth["password"].encode(), password.encode())
        return good_user and good_password

    return PlaywireInstrumentedServer(
        server, auth=authenticate, mode="development", namespace=ADMIN_NAMESPACE
    )


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)


@blueprint.get("/admin/ui")
def admin_ui_slash():
    return redirect("/admin/ui/", code=308)  # the page's files are relative to the folder


@blueprint.get("/admin/ui/", defaults={"filename": "index.html"})
@blueprint.get("/admin/ui/<path:filename>")
def admin_ui(filename: str):
    dist = find_npm_folder(ADMIN_UI_DIST, "index.html")
    if dist is None:
        message = "@socket.io/admin-ui is not installed: run `npm ci` in the repository root.\n"
        return message, 500, {"Content-Type": "text/plain; charset=utf-8"}
    return send_from_directory(dist, filename)

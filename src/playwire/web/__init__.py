"""The web page at ``/``: the browser client (README, "The web page";
docs/web-client.md).

A Flask blueprint serving the page and its files (plain HTML, CSS and JS modules, all in
``static/``: no build step, no template), and the official ``socket.io-client`` build from
the ``node_modules`` folder that ``npm ci`` fills. Nothing from npm is vendored here.

Where ``node_modules`` is looked for, first match wins:

1. ``app.config["PLAYWIRE_NODE_MODULES"]``, if set (a path);
2. the repository checkout this package runs from
   (``Path(__file__).resolve().parents[3] / "node_modules"``: ``src/playwire/web`` -> repo root),
   which is where ``make setup`` runs ``npm ci``;
3. ``./node_modules`` in the current working directory.

If the client file is missing, ``/vendor/...`` answers 500 with a message saying how
to install it, and the page shows that the client could not load.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, current_app, send_from_directory

SOCKET_IO_PACKAGE = "socket.io-client"

# The only files of the npm package the page may fetch: the ES-module build it imports,
# the classic build for anyone who prefers a <script> tag, and their source maps.
SOCKET_IO_FILES = frozenset(
    {
        "socket.io.esm.min.js",
        "socket.io.esm.min.js.map",
        "socket.io.min.js",
        "socket.io.min.js.map",
    }
)

SOURCE_NODE_MODULES = Path(__file__).resolve().parents[3] / "node_modules"

blueprint = Blueprint(
    "web",
    __name__,
    static_folder="static",
    # Not /static: the app may one day want its own static route.
    # static/index.html refers to its files by this path.
    static_url_path="/web/static",
)


def init_app(app: Flask) -> None:
    """Serve the web page at ``/`` on ``app``."""
    app.register_blueprint(blueprint)


@blueprint.get("/")
def index():
    return blueprint.send_static_file("index.html")


@blueprint.get("/vendor/socket.io/<path:filename>")
def socket_io_client(filename: str):
    if filename not in SOCKET_IO_FILES:
        return _text_response(f"Not found: {filename}", 404)
    dist = find_socket_io_dist()
    if dist is None:
        message = (
            f"{SOCKET_IO_PACKAGE} is not installed: run `npm ci` (or `make setup`) in the "
            "repository root, or set PLAYWIRE_NODE_MODULES to a node_modules folder holding it."
        )
        current_app.logger.error(message)
        return _text_response(message, 500)
    return send_from_directory(dist, filename)


def find_socket_io_dist() -> Path | None:
    """The ``dist`` folder of the installed socket.io-client, or None if none is installed."""
    return find_npm_folder(f"{SOCKET_IO_PACKAGE}/dist", "socket.io.esm.min.js")


def find_npm_folder(folder: str, marker: str) -> Path | None:
    """``folder`` (e.g. ``"pkg/dist"``) of the first node_modules that has ``marker`` in it."""
    for node_modules in _node_modules_candidates():
        found = node_modules / folder
        if (found / marker).is_file():
            return found
    return None


def _node_modules_candidates() -> list[Path]:
    configured = current_app.config.get("PLAYWIRE_NODE_MODULES")
    candidates = [Path(configured)] if configured else []
    candidates += [SOURCE_NODE_MODULES, Path.cwd() / "node_modules"]
    return candidates


def _text_response(text: str, status: int):
    return text + "\n", status, {"Content-Type": "text/plain; charset=utf-8"}

"""Playwire: the real-time server of a multiplayer browser-game platform.

The app factory lives in :mod:`playwire.app`; it is imported lazily here so that
``playwire serve`` can monkey-patch the standard library with gevent before Flask,
python-socketio or any of their dependencies are imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

__version__ = "0.1.0"


def create_app(config: Any = None) -> Flask:
    """Build the Flask app with its Socket.IO server; see :func:`playwire.app.create_app`."""
    from playwire.app import create_app as _create_app

    return _create_app(config)

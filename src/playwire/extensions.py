"""Extension objects, created unbound and bound to the app in :func:`playwire.app.create_app`."""

from __future__ import annotations

from playwire.database import Database
from playwire.upstream.flask_socketio import PlaywireSocketIO

db = Database()
socketio = PlaywireSocketIO()

"""Overrides of Flask-SocketIO 5.7.0 (pinned): binding a server that Playwire built.

Flask-SocketIO's ``init_app`` builds a plain ``socketio.Server`` itself. Playwire builds its
own (:class:`~playwire.upstream.socketio.PlaywireServer`, in :func:`playwire.socketio.init_app`)
and binds it here with the rest of ``init_app``'s wiring: the app's ``extensions``, the
handlers and namespaces registered so far, and the WSGI middleware that serves
``/socket.io`` and puts the app in every request's environ (``flask.app``, which
Flask-SocketIO's connect and disconnect handlers read).
"""

from __future__ import annotations

import socketio as python_socketio
from flask import Flask
from flask_socketio import SocketIO, _SocketIOMiddleware

#: The upstream code these overrides copy or depend on, and its fingerprint (see
#: :func:`playwire.upstream.changed`).
UPSTREAM = {
    "flask_socketio:SocketIO.__init__": "54fecc2068abe13c",
    "flask_socketio:SocketIO.init_app": "fde8432d849ea934",
    "flask_socketio:SocketIO._handle_event": "f0947d6f65964bbb",
    "flask_socketio:_SocketIOMiddleware": "d1565ce494e1514a",
}


class PlaywireSocketIO(SocketIO):
    """Flask-SocketIO, bound to a server built by Playwire."""

    # Replaces SocketIO.init_app of Flask-SocketIO 5.7.0 (the wiring copied, the building of
    # the server left out): Playwire's server class needs no __class__ swap after the fact.
    def bind(self, app: Flask, server: python_socketio.Server, manage_session: bool) -> None:
        """Serve ``server`` at ``/socket.io`` of ``app``, as ``init_app`` would have.

        Options Playwire does not use (``message_queue``, ``channel``, ``path``, Flask's json
        module, ``FLASK_RUN_FROM_CLI``'s threading) are left out; the server was built with
        its client manager, json module and async mode.
        """
        app.extensions["socketio"] = self
        self.manage_session = manage_session
        self.server = server
        self.async_mode = server.async_mode
        for message, handler, namespace in self.handlers:
            server.on(message, handler, namespace=namespace)
        for namespace_handler in self.namespace_handlers:
            server.register_namespace(namespace_handler)
        self.sockio_mw = _SocketIOMiddleware(server, app, socketio_path="socket.io")
        app.wsgi_app = self.sockio_mw

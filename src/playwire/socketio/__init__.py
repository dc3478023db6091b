"""The Socket.IO layer: the server's options and the namespaces it serves.

A new namespace is one class in this package and one line in :func:`register_namespaces`.
"""

from __future__ import annotations

from flask import Flask

from playwire import jsonlib
from playwire.origins import OriginPolicy
from playwire.services import Services
from playwire.socketio import frames
from playwire.socketio.chat import ChatNamespace
from playwire.socketio.cluster import start_presence_keeper
from playwire.socketio.forward import ForwardNamespace
from playwire.socketio.manager import PlaywireManager
from playwire.socketio.ping import PingNamespace
from playwire.socketio.queue import PlaywireRedisManager
from playwire.socketio.server import JsonPacket


def register_namespaces(services: Services) -> None:
    from playwire.extensions import socketio  # the extension module imports this package

    socketio.on_namespace(ChatNamespace("/chat", services))
    socketio.on_namespace(ForwardNamespace("/forward", services))
    socketio.on_namespace(PingNamespace("/ping", services))


def init_app(app: Flask, services: Services, origins: OriginPolicy, async_mode: str) -> None:
    """Bind the Socket.IO server to ``app`` with the configured limits."""
    from playwire.extensions import socketio

    config = services.config
    queue = None
    if config.message_queue:
        # A cluster node: python-socketio's Redis manager, made to report failed publishes.
        queue = PlaywireRedisManager(config.message_queue)
    socketio.init_app(
        app,
        async_mode=async_mode,
        json=jsonlib,
        serializer=JsonPacket,
        # One session's events run one after another, in the order they arrived: this is
        # what keeps SPEC §6's per-session order (and spares a greenlet per event).
        async_handlers=False,
        cors_allowed_origins=origins.allows,
        cors_credentials=True,
        max_http_buffer_size=config.max_http_buffer_size,
        max_poll_packets=config.max_poll_packets,
        ping_interval=config.ping_interval,
        ping_timeout=config.ping_timeout,
        client_manager=queue if queue is not None else PlaywireManager(),
        # Handlers only read the cookie, at connect: no per-connection copy of the session.
        manage_session=False,
        logger=False,
        engineio_logger=False,
    )
    register_namespaces(services)
    start_presence_keeper(socketio, services.presence, queue)
    if async_mode == "gevent":
        frames.install()

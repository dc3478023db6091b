"""The Socket.IO layer: the server's options and the namespaces it serves.

A new namespace is one class in this package and one line in :func:`register_namespaces`.
"""

from __future__ import annotations

from flask import Flask

from playwire import jsonlib
from playwire.ops import admin
from playwire.origins import OriginPolicy
from playwire.services import Services
from playwire.socketio.chat import ChatNamespace
from playwire.socketio.counting import start_presence_counter
from playwire.socketio.forward import ForwardNamespace
from playwire.socketio.handover import Handover
from playwire.socketio.ping import PingNamespace
from playwire.socketio.presence_keeper import start_presence_keeper
from playwire.upstream.engineio import allow_poll_packets
from playwire.upstream.geventwebsocket import install_unmasking
from playwire.upstream.socketio import (
    JsonPacket,
    PlaywireManager,
    PlaywireRedisManager,
    PlaywireServer,
)


def register_namespaces(services: Services) -> None:
    from playwire.extensions import socketio  # the extension module imports this package

    socketio.on_namespace(ChatNamespace("/chat", services))
    socketio.on_namespace(ForwardNamespace("/forward", services))
    socketio.on_namespace(PingNamespace("/ping", services))


def init_app(app: Flask, services: Services, origins: OriginPolicy) -> None:
    """Serve Socket.IO on ``app`` with the configured limits, under gevent."""
    from playwire.extensions import socketio

    config = services.config
    queue = None
    if config.message_queue:
        # A cluster node: python-socketio's Redis manager, made to report failed publishes.
        queue = PlaywireRedisManager(
            config.message_queue,
            time_publish=services.metrics.time_publish,
            unsubscribe_delay=config.unsubscribe_delay,
        )
        queue.queue_received = services.metrics.queue_received
    manager = queue if queue is not None else PlaywireManager()
    manager.deliveries = services.metrics.deliveries
    server = PlaywireServer(
        async_mode="gevent",
        client_manager=manager,
        json=jsonlib,
        serializer=JsonPacket,
        # One session's events run one after another, in the order they arrived: this is
        # what keeps the per-session order of docs/protocol.md, "Delivery guarantee" (and
        # spares a greenlet per event).
        async_handlers=False,
        cors_allowed_origins=origins.allows,
        cors_credentials=True,
        max_http_buffer_size=config.max_http_buffer_size,
        ping_interval=config.ping_interval,
        ping_timeout=config.ping_timeout,
        logger=False,
        engineio_logger=False,
    )
    server.eio.max_outbox = config.max_outbox
    # Handlers only read the cookie, at connect: no per-connection copy of the session.
    socketio.bind(app, server, manage_session=False)
    register_namespaces(services)
    if config.recovery_window > 0:
        for namespace, handler in server.namespace_handlers.items():
            if hasattr(handler, "logs"):
                manager.keep_logs(namespace, handler.logs)
        server.eio.ping_listener = server.trim_logs
        if queue is not None:
            hand_sessions_over(app, server, queue, config.shutdown_grace)
    if config.admin_password:
        admin.instrument(server, config.admin_password)
    if queue is not None:
        # Subscribe now: python-socketio would at the first connection, and what other nodes
        # publish meanwhile (that session's first broadcasts) would be lost.
        # Each namespace of Playwire's on channels of its own (playwire.routing).
        queue.route(server.namespace_handlers)
        server.manager_initialized = True
        queue.initialize()
    start_presence_keeper(server, services.presence, queue)
    start_presence_counter(server, config.presence_count_interval)
    allow_poll_packets(config.max_poll_packets)
    install_unmasking()


def hand_sessions_over(
    app: Flask, server: PlaywireServer, queue: PlaywireRedisManager, grace: float
) -> None:
    """A cluster node's sessions move between nodes (playwire.socketio.handover): recovered
    on whichever node their client reconnects to, and handed over when this node stops
    (``app.extensions["playwire_shutdown"]``, which the HTTP server calls on SIGTERM)."""
    handover = Handover(server, queue)
    queue.handover = handover
    for handler in handover.handlers():
        handler.handover = handover
    app.extensions["playwire_shutdown"] = lambda: handover.shut_down(grace)

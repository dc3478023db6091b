"""Every place where Playwire overrides, copies or patches a library's internals.

Each module here holds the overrides of one library, each headed by two lines: what it
replaces, from which pinned version, and why. Each module's ``UPSTREAM`` maps the upstream
code its overrides copy or depend on to a fingerprint of that code's source;
``tests/test_upstream.py`` recomputes them, so a version bump fails with the exact list of
functions to re-read (see :func:`changed`).

python-socketio 5.18.1 (:mod:`playwire.upstream.socketio`)
  - ``Server._engineio_server_class``: the seam for the Engine.IO server, ``EngineServer``.
  - ``Server._handle_event_internal``: Playwire's namespaces dispatch their events themselves,
    told whether an ack is expected, without Flask's per-event request context.
  - ``Server._handle_connect``: calls the namespace back once its CONNECT packet is sent.
  - ``Packet.uses_binary_events = False`` (``JsonPacket``): no scan for binary attachments.
  - ``Packet.encode`` (``JsonPacket``): a forward with ``latest`` is encoded as a tagged
    string, for keep-latest (:mod:`playwire.keep_latest`).
  - ``Server._handle_eio_message``: a packet that cannot be decoded closes its connection.
  - ``BaseManager.get_participants`` (reads ``pending_connect``): broadcasts skip sessions whose
    connect handler still runs.
  - ``BaseManager.basic_enter_room``, ``basic_leave_room``, ``basic_disconnect``,
    ``get_rooms`` (``RoomsBySession``): each session's rooms indexed, so a disconnect leaves
    its own rooms instead of scanning all of them (O(N²) to close N sessions).
  - ``Manager.emit`` (``CountingManager``): the same loop, counting each emit's recipients
    for ``playwire_deliveries_total``.
  - ``RedisManager.__init__``, ``PubSubManager.emit`` (its inter-node message rebuilt),
    ``RedisManager._publish``, ``RedisManager._redis_listen_with_retries``: publish first and
    fail loudly; listen on a connection of its own, retried every 2 s at most.
  - ``RedisManager._listen``, ``BaseManager.basic_enter_room`` and ``basic_leave_room``
    (``PlaywireRedisManager``): a channel per namespace, user and room where upstream has
    one for everything (:mod:`playwire.routing`), subscribed while a local session needs it.

python-socketio 5.18.1's Admin UI instrumentation (:mod:`playwire.upstream.socketio_admin`)
  - ``InstrumentedServer.instrument``: also reports the events PlaywireServer dispatches
    itself, and WebSocket packets written through an ``Outbox``.
  - ``InstrumentedServer._emit_server_stats``: lists class-based namespaces too.

python-engineio 4.15.1 (:mod:`playwire.upstream.engineio`)
  - ``Server._trigger_event``: retypes each new socket to ``EngineSocket`` on ``connect``.
  - ``Socket.send``, ``Socket.close``, ``Socket.schedule_ping`` (and ``_send_ping``),
    ``Socket._websocket_handler`` (its upgrade and read loop copied): WebSocket writes go
    through :class:`~playwire.websocket.Outbox`, pings are timers.
  - ``Socket.send``, ``Socket.poll``, ``Socket.handle_post_request`` (and the POST error
    path of ``Server.handle_request``): long-polling's queue capped by ``--max-outbox`` and
    keep-latest; a bad POST closes its socket at once and is answered 400.
  - ``Payload.max_decode_packets``: raised from 16 (``--max-poll-packets``).

Flask-SocketIO 5.7.0 (:mod:`playwire.upstream.flask_socketio`)
  - ``SocketIO.init_app`` (copied, minus building the server; uses ``_SocketIOMiddleware``):
    binds a server Playwire built.

gevent-websocket 0.10.1 (:mod:`playwire.upstream.geventwebsocket`)
  - ``Header.mask_payload`` / ``Header.unmask_payload``: unmasking as one integer XOR.
  - ``WebSocketHandler.run_application``: TCP_NODELAY for long-polling only.

PyPy 7.3.11's ctypes (:mod:`playwire.upstream.pypy`)
  - ``_ctypes.primitive`` ``pyobj_container.add``: keeps unweakrefable objects (psycopg).
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import inspect
from types import ModuleType

#: The modules of this package, each with its ``UPSTREAM`` table.
MODULES = ("socketio", "socketio_admin", "engineio", "flask_socketio", "geventwebsocket", "pypy")


def upstream_source(name: str) -> str:
    """The source of ``name`` (``module:Qualified.name``) as the installed library has it.

    Read from the library's file, not from the live object, so that a monkeypatch in this
    process does not hide the code it replaced.
    """
    module_name, _, qualname = name.partition(":")
    return source_segment(inspect.getsource(importlib.import_module(module_name)), qualname)


def source_segment(source: str, qualname: str) -> str:
    """The source of the class, function or assignment ``qualname`` within ``source``."""
    node: ast.AST = ast.parse(source)
    for part in qualname.split("."):
        node = _child(node, part, qualname)
    segment = ast.get_source_segment(source, node)
    if segment is None:  # pragma: no cover - ast always has positions for parsed source
        raise LookupError(qualname)
    return segment


def _child(node: ast.AST, part: str, name: str) -> ast.AST:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            if child.name == part:
                return child
        elif isinstance(child, (ast.Assign, ast.AnnAssign)):
            targets = child.targets if isinstance(child, ast.Assign) else [child.target]
            if any(isinstance(target, ast.Name) and target.id == part for target in targets):
                return child
    raise LookupError(f"{name}: no {part!r} upstream")


def fingerprint(name: str) -> str:
    """A short hash of ``name``'s upstream source (see :func:`upstream_source`)."""
    return digest(upstream_source(name))


def digest(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def tables() -> dict[str, dict[str, str]]:
    """Every override module's ``UPSTREAM`` table, by module name."""
    return {name: _module(name).UPSTREAM for name in MODULES}


def changed() -> list[str]:
    """The upstream code whose source no longer matches its fingerprint: re-read each one
    against the override that copies or depends on it, then update its fingerprint."""
    found = []
    for module, table in tables().items():
        for name, expected in table.items():
            try:
                actual = fingerprint(name)
            except (ImportError, LookupError, OSError, TypeError) as exc:
                actual = f"missing ({exc})"
            if actual != expected:
                found.append(f"{name} (upstream/{module}.py): {expected} -> {actual}")
    return found


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"{__name__}.{name}")

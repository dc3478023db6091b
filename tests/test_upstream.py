"""The overrides of library internals (``playwire.upstream``) against the installed libraries.

Each override module lists the upstream code it copies or depends on with a fingerprint of
its source. A version bump that changes any of it fails here, naming each function to
re-read against its override; once re-read (and the override adapted), its fingerprint is
updated in the module's ``UPSTREAM`` table.
"""

from __future__ import annotations

import importlib
import inspect

import pytest

from playwire import upstream


def test_upstream_code_is_what_the_overrides_were_written_against():
    changed = upstream.changed()
    assert changed == [], "upstream code changed; re-read each against its override:\n" + (
        "\n".join(changed)
    )


def test_every_method_overriding_a_library_method_is_fingerprinted():
    """A method of an override class that shadows one of its library base classes must
    have that library method in its module's table, so no override escapes the check."""
    missing = []
    for name, table in upstream.tables().items():
        module = importlib.import_module(f"playwire.upstream.{name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__:
                missing += [key for key in _library_methods_shadowed(cls) if key not in table]
    assert missing == []


def _library_methods_shadowed(cls: type) -> list[str]:
    mro = cls.__mro__
    found = []
    for index, own in enumerate(mro):
        if not own.__module__.startswith("playwire."):
            continue
        for attr, value in vars(own).items():
            if not inspect.isfunction(value):
                continue
            for base in mro[index + 1 :]:
                if not base.__module__.startswith("playwire.") and attr in vars(base):
                    found.append(f"{base.__module__}:{base.__qualname__}.{attr}")
                    break
    return found


def test_a_changed_fingerprint_is_reported_by_name(monkeypatch):
    from playwire.upstream import socketio

    name = "socketio.server:Server._handle_connect"
    monkeypatch.setitem(socketio.UPSTREAM, name, "0" * 16)
    changed = upstream.changed()
    assert len(changed) == 1
    assert changed[0].startswith(f"{name} (upstream/socketio.py): {'0' * 16} -> ")


def test_a_monkeypatch_does_not_hide_the_code_it_replaced():
    """Fingerprints are read from the library's file, not from the patched attribute."""
    from geventwebsocket.websocket import Header

    from playwire.upstream.geventwebsocket import UPSTREAM, install_unmasking

    install_unmasking()
    assert Header.mask_payload.__module__ == "playwire.websocket"
    name = "geventwebsocket.websocket:Header.mask_payload"
    assert upstream.fingerprint(name) == UPSTREAM[name]
    assert "def mask_payload" in upstream.upstream_source(name)


@pytest.mark.parametrize("name", ["socketio.server:Server.nothing", "socketio.nothing:Server"])
def test_code_gone_upstream_is_reported(monkeypatch, name):
    from playwire.upstream import socketio

    monkeypatch.setitem(socketio.UPSTREAM, name, "0" * 16)
    assert [entry.split(" ")[0] for entry in upstream.changed()] == [name]

"""playwire.upstream.socketio: who a broadcast reaches (no session still being connected)."""

from __future__ import annotations

import socketio

from playwire.upstream.socketio import PlaywireManager


def test_broadcasts_skip_a_session_whose_connect_handler_still_runs():
    manager = PlaywireManager()
    socketio.Server(client_manager=manager)
    accepted = manager.connect("eio-accepted", "/chat")
    connecting = manager.pre_connect("eio-connecting", "/chat")
    assert [sid for sid, _ in manager.get_participants("/chat", None)] == [accepted]
    manager.connect(connecting, "/chat")
    recipients = {sid for sid, _ in manager.get_participants("/chat", None)}
    assert recipients == {accepted, connecting}

"""playwire.websocket: WebSocket unmasking, byte for byte gevent-websocket's."""

from __future__ import annotations

import os
import textwrap

import pytest
from geventwebsocket import websocket as gevent_websocket
from geventwebsocket.websocket import Header

from playwire import upstream
from playwire.websocket import unmask_payload


def gevent_websockets_own_unmasking():
    """``Header.mask_payload`` as gevent-websocket's file has it: in this process the class
    attribute may already be Playwire's (``playwire.upstream.geventwebsocket`` installs it)."""
    source = upstream.upstream_source("geventwebsocket.websocket:Header.mask_payload")
    functions: dict = {}
    exec(textwrap.dedent(source), vars(gevent_websocket).copy(), functions)
    return functions["mask_payload"]


@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 127, 128, 65536 + 3])
def test_fast_unmask_matches_gevent_websocket(size):
    header = Header(length=size)
    header.mask = os.urandom(4)
    payload = os.urandom(size)
    assert unmask_payload(header, payload) == gevent_websockets_own_unmasking()(header, payload)

"""Slow readers (docs/protocol.md, *Limits and abuse*): a session whose unsent data passes
``--max-outbox`` is disconnected, memory stays bounded, and nobody else waits or loses
anything. The slow clients are raw WebSockets that complete the handshake, then never read.
"""

from __future__ import annotations

import re
import time

from helpers.raw import RawPolling, RawSession, rss_bytes
from test_metrics import scrape, value

SLOW_READERS = 5
MESSAGE = "m" * 1000  # 1 KB chat messages
# Pings far apart: the slow readers never answer them, and only the cap may drop them here.
FLAGS = ("--rate-limit", "100000", "--rate-burst", "100000", "--ping-interval", "120")
MIB = 1024 * 1024


def slow_readers(server, count):
    """``count`` users, each with one /chat session that stops reading after its CONNECT:
    WebSockets, and one long-polling session that never polls again."""
    sockets, ids = [], set()
    for n in range(count):
        account = server.register()
        if n == 0:
            client = RawPolling(server)
            client.join("/chat", account["token"])
        else:
            client = RawSession(server, receive_buffer=4096)
            client.join("/chat", account["token"])
        sockets.append(client)
        ids.add(account["id"])
    return sockets, ids


#: PyPy sizes its nursery from the cache size the CPU reports: half of it, 240 MB on this
#: project's VMs, which report 480 MB. Its RSS then grows as pages of that nursery are first
#: touched, about 6 KB a chat message, whatever is alive, and an old generation is collected
#: only when it has grown by 82 %. With a nursery of a usual machine and frequent major
#: collections, RSS follows what is alive, as on CPython. (CPython ignores these.)
PYPY_GC = {"PYPY_GC_NURSERY": "8MB", "PYPY_GC_MAJOR_COLLECT": "1.1", "PYPY_GC_MIN": "16MB"}


def test_slow_readers_are_disconnected_and_memory_stays_bounded(start_server, connect, monkeypatch):
    for name, setting in PYPY_GC.items():
        monkeypatch.setenv(name, setting)  # the server's environment is the test's
    server = start_server(*FLAGS)  # the default --max-outbox, 1 MiB
    chatter = server.register()
    talker = connect(server, "/chat", chatter["token"])
    listener_account = server.register()
    listener = connect(server, "/chat", listener_account["token"])
    for client in (talker, listener):
        client.expect("presence")
        client.expect("history")
    assert talker.expect("user_joined")["id"] == listener_account["id"]
    baseline = warm_up(server, talker, listener, chatter["id"])
    sockets, slow_ids = slow_readers(server, SLOW_READERS)
    for _ in slow_ids:
        assert talker.expect("user_joined")["id"] in slow_ids
        assert listener.expect("user_joined")["id"] in slow_ids

    gone: set[int] = set()
    sent, talker_got, peak = 0, 0, baseline
    deadline = time.monotonic() + 120
    # Chat until every slow reader was dropped; the listener reads all along.
    while gone != slow_ids:
        assert time.monotonic() < deadline, f"still connected: {slow_ids - gone}"
        for _ in range(99):
            talker.emit("message", {"message": MESSAGE})
        assert talker.call("message", {"message": MESSAGE})["ok"] is True  # after the 99
        sent += 100
        peak = max(peak, rss_bytes(server.process.pid))
        for name, data in talker.pending():
            if name == "user_left":
                gone.add(data["id"])
            else:
                talker_got += name == "message"
    assert count_messages(talker, sent - talker_got, chatter["id"], slow_ids)
    assert count_messages(listener, sent, chatter["id"], slow_ids)
    # What the slow readers held: at most 1 MiB each in the outbox, as Python objects: 7.7 MiB
    # measured on CPython, 7-13 MiB on PyPy (PYPY_GC); a cap ten times too large gives 42-44
    # MiB on PyPy. Without the cap nobody is dropped and the loop fails.
    bound = 24 * MIB
    print(f"slow readers held {(peak - baseline) / MIB:.1f} MiB above the baseline")
    assert peak - baseline < bound, (baseline, peak)
    dropped = re.findall(rf"over --max-outbox {MIB}$", server.log(), re.MULTILINE)
    assert len(dropped) == SLOW_READERS
    disconnects = value(scrape(server), "playwire_disconnects_total", reason="outbox full")
    assert disconnects == SLOW_READERS
    for client in sockets:
        client.close()


def warm_up(server, talker, listener, author: int, rounds: int = 20) -> int:
    """The chat path's first few thousand messages, and the baseline they leave: the peak
    RSS meanwhile. PyPy's JIT compiles the path and its heap grows to the working size, memory
    the cap has nothing to do with; and a collecting heap swings between its live size and a
    multiple of it, so a single sample could catch a low and count the swing as the slow
    readers'. The listener reads them all."""
    peak = rss_bytes(server.process.pid)
    for _ in range(rounds):
        for _ in range(99):
            talker.emit("message", {"message": MESSAGE})
        assert talker.call("message", {"message": MESSAGE})["ok"] is True
        peak = max(peak, rss_bytes(server.process.pid))
    for client in (talker, listener):
        assert count_messages(client, rounds * 100, author, set())
    return peak


def count_messages(client, expected, author, leavers):
    """Read ``expected`` chat messages of ``author``; only leavers' departures between them."""
    received = 0
    while received < expected:
        name, data = client.next()
        if name == "message":
            assert data["message"] == MESSAGE and data["user_id"] == author
            received += 1
        else:
            assert name == "user_left" and data["id"] in leavers, (name, data)
    return True

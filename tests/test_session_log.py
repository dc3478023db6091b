"""The recovery log of one session (playwire.recovery), without a server."""

from __future__ import annotations

import pytest

from playwire.recovery import Offsets, SessionLog, recovery_request, wants_recovery


def filled(limit: int, count: int) -> SessionLog:
    log = SessionLog("pid", limit)
    for n in range(count):
        log.add((f"o{n}", f"p{n}"))
    return log


def test_since_an_offset_gives_what_followed_in_order():
    assert filled(5, 4).since("o1") == ["p2", "p3"]
    assert filled(5, 4).since("o3") == []


def test_an_offset_that_fell_out_or_never_was_is_not_recoverable():
    log = filled(3, 10)  # keeps o6..o9: the last 3 and the one before them
    assert log.since("o6") == ["p7", "p8", "p9"]
    assert log.since("o5") is None
    assert log.since("elsewhere") is None


def test_a_held_log_keeps_without_sending_and_overflows_once_past_its_limit():
    overflows = []
    log = filled(2, 1)
    log.hold(timer=None, on_overflow=lambda: overflows.append(1))
    assert [log.add((f"h{n}", n)) for n in range(2)] == [False, False]
    assert log.since("o0") == [0, 1] and overflows == []
    log.add(("h2", 2))
    log.add(("h3", 3))
    assert overflows == [1] and log.since("h1") is None
    log.release()
    assert log.add(("after", 4)) is True


def test_offsets_are_unique_strings_per_process():
    first, second = Offsets(), Offsets()
    offsets = {first.next() for _ in range(100)} | {second.next() for _ in range(100)}
    assert len(offsets) == 200 and all(isinstance(offset, str) for offset in offsets)


@pytest.mark.parametrize(
    ("auth", "wants", "request_"),
    [
        (None, True, None),
        ("token", True, None),
        ({"token": "t"}, True, None),
        ({"token": "t", "recovery": False}, False, None),
        ({"pid": "p", "offset": "o"}, True, ("p", "o")),
        ({"pid": "p"}, True, None),
        ({"pid": 1, "offset": "o"}, True, None),
    ],
)
def test_what_a_connect_auth_asks_for(auth, wants, request_):
    assert wants_recovery(auth) is wants
    assert recovery_request(auth) == request_


def test_a_pong_drops_what_was_sent_before_its_ping_but_the_last_of_it():
    log = filled(10, 4)
    log.ping_sent()
    log.add(("o4", "p4"))
    log.pong_received()
    assert [offset for offset, _ in log.entries] == ["o3", "o4"]
    assert log.since("o3") == ["p4"] and log.since("o4") == []
    log.pong_received()  # no ping outstanding: nothing changes
    assert len(log.entries) == 2

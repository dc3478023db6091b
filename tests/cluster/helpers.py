"""Waiting on events in a cluster, where other tests' users come and go in the background."""

from __future__ import annotations

import time
from typing import Any, Callable

from support import EVENT_TIMEOUT, EventClient, is_news_of_a_stranger


def expect(client: EventClient, event: str, known: set[int], timeout: float = EVENT_TIMEOUT) -> Any:
    """The next event of ``client``, which must be ``event``; presence news about users
    other than ``known`` (those of earlier tests, leaving late) are skipped."""
    while True:
        name, data = client.next(timeout)
        if is_news_of_a_stranger(name, data, known):
            continue
        assert name == event, f"expected {event!r}, got {name!r}: {data!r}"
        return data


def quiet(client: EventClient, known: set[int]) -> list:
    """What ``client`` received and nobody read, strangers' presence news left out."""
    return [
        (name, data)
        for name, data in client.pending()
        if not is_news_of_a_stranger(name, data, known)
    ]


def wait_for(
    client: EventClient, matches: Callable[[str, Any], bool], timeout: float = EVENT_TIMEOUT
) -> tuple[str, Any]:
    """The first event that ``matches``; every event before it is dropped."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no matching event within {timeout}s")
        name, data = client.next(remaining)
        if matches(name, data):
            return name, data


def drain_until_marker(client: EventClient, event: str, marker: Any, known: set[int]) -> list:
    """Every ``event`` received up to and including the one whose ``marker`` matches."""
    received = []
    while True:
        data = expect(client, event, known)
        received.append(data)
        if data.get("marker") == marker:
            return received

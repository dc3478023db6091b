"""The chat store's history (docs/protocol.md, "`/chat`" and "Rooms"), read from the
database or, on a single node, from the recent messages it keeps in memory: both must give
the same answer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from playwire.chat import ChatStore, RecentMessages
from playwire.database import Database
from playwire.identity import Member
from playwire.migrations import upgrade

ALICE = Member(1, "alice")


@pytest.fixture
def database(tmp_path) -> Iterator[Database]:
    db = Database().connect(f"sqlite:///{tmp_path / 'playwire.sqlite3'}")
    upgrade(db.engine)
    yield db
    db.close()


def test_cached_history_is_the_databases(database):
    cached = ChatStore(database, history_size=3, cached_rooms=2)
    uncached = ChatStore(database, history_size=3)
    rooms = [None, "lobby", "match:1", "match:2"]
    for n in range(5):
        for room in rooms:
            cached.post(ALICE, f"{room} {n}", room)
            # Read after each post, so the cache holds rooms and forgets the least recent.
            assert cached.history(room) == uncached.history(room)
    for room in rooms:
        history = cached.history(room)
        assert [m["message"] for m in history] == [f"{room} {n}" for n in (2, 3, 4)]
        assert history == uncached.history(room)


def test_a_message_stored_while_its_room_loads_is_kept_once_and_in_order():
    """A message stored while its room's history is read from the database may be in what
    the database returned, or not; greenlets may also add messages out of id order."""
    one, two, three = ({"id": n, "message": str(n)} for n in (1, 2, 3))
    recent = RecentMessages(rooms=1)
    assert recent.get(None, lambda room: [one]) == [one]
    recent.add(None, one, 2)  # the loaded history had it already
    recent.add(None, three, 2)
    recent.add(None, two, 2)
    assert recent.get(None, lambda room: []) == [two, three]
    recent.add("lobby", one, 2)  # a room not cached is read from the database when it is
    assert recent.get("lobby", lambda room: []) == []


def test_no_history_reads_nothing(database):
    store = ChatStore(database, history_size=0, cached_rooms=4)
    store.post(ALICE, "unseen")
    assert store.history() == []

"""playwire.forwarding: the relay's rules (targets, stamping, rooms), without the network."""

from __future__ import annotations

import pytest

from playwire.errors import EventError
from playwire.forwarding import recipient_rooms, stamped, target_of, user_room


@pytest.mark.parametrize("target", [None, True, False, 1.0, "1", [1], {"id": 1}])
def test_only_integers_are_targets(target):
    with pytest.raises(EventError) as error:
        target_of({"target": target})
    assert error.value.code == "invalid_target"


def test_target_and_stamp():
    assert target_of({"target": 3}) == 3
    payload = {"target": 3, "sender": 99, "move": 1}
    assert stamped(payload, 7) == {"target": 3, "sender": 7, "move": 1}
    assert payload["sender"] == 99  # the client's object is not modified


def test_rooms_are_strings_and_self_is_one_room():
    assert user_room(42) == "user:42"
    assert recipient_rooms(7, 7) == ["user:7"]
    assert recipient_rooms(7, 8) == ["user:8", "user:7"]

"""playwire.validation: what an event's payload must be, and how big."""

from __future__ import annotations

import pytest

from playwire.errors import EventError
from playwire.validation import event_payload


@pytest.mark.parametrize("args", [(), ("x",), (1,), ([],), (None,), ({}, {}), ({"blob": b"\x00"},)])
def test_payload_must_be_one_object(args):
    with pytest.raises(EventError) as error:
        event_payload(args, 100)
    assert error.value.code == "invalid_payload"


def test_payload_limit_is_compact_utf8_json():
    payload = {"a": "é" * 10}  # {"a":"…"} = 8 bytes + 20 bytes of UTF-8
    assert event_payload((payload,), 28) is payload
    with pytest.raises(EventError) as error:
        event_payload((payload,), 27)
    assert error.value.code == "payload_too_large"

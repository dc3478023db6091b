"""playwire.later: results handed on in order, in the greenlet that settles them."""

from __future__ import annotations

import pytest

from playwire.later import Later


def test_a_chain_runs_when_the_value_comes_in_the_order_it_was_built():
    seen = []
    first: Later[int] = Later()
    doubled = first.then(lambda value: value * 2)
    doubled.add_done_callback(lambda known: seen.append(("doubled", known.result())))
    first.add_done_callback(lambda known: seen.append(("first", known.result())))
    assert seen == [] and not doubled.done
    first.set(21)
    assert seen == [("doubled", 42), ("first", 21)]  # each in the order it was added


def test_an_exception_passes_on_unless_handled_and_what_a_step_raises_is_its_exception():
    failed: Later[int] = Later()
    passed_on = failed.then(lambda value: value + 1)
    handled = failed.then(lambda value: value + 1, lambda exc: f"handled {exc}")
    failed.set_exception(ValueError("lost"))
    with pytest.raises(ValueError, match="lost"):
        passed_on.result()
    assert handled.result() == "handled lost"
    raising = Later.of(1).then(lambda value: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        raising.result()


def test_a_failing_callback_does_not_keep_the_others_from_running(caplog):
    seen = []
    later: Later[str] = Later()
    later.add_done_callback(lambda known: 1 / 0)
    later.add_done_callback(lambda known: seen.append(known.result()))
    later.set("value")
    assert seen == ["value"]
    assert "a callback of a publish's result failed" in caplog.text


def test_what_is_chained_onto_a_known_later_runs_at_once():
    assert Later.of(3).then(lambda value: value + 1).result() == 4

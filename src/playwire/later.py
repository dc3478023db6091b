"""A result that comes later: what a publish on its way to Redis will return.

On a cluster node a forward is answered only once Redis has run its publish, but the
session's next event need not wait for that (docs/cluster.md, "What travels
where"). The forward hands back a :class:`Later`, and what is to happen once Redis has
answered (the local delivery, the ack) is chained onto it with :meth:`Later.then`.

Callbacks run in the greenlet that settles the Later, at once and in the order they were
added, without a switch in between: the publisher settles its Laters in the order the
publishes were made, so the deliveries and acks of one session keep the order of its events.
A callback must not block.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Generic, Optional, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
U = TypeVar("U")


class Later(Generic[T]):
    """A value or an exception, once it is known; :meth:`then` chains what follows."""

    __slots__ = ("_error", "_followers", "_value", "done")

    def __init__(self) -> None:
        self.done = False
        self._value: Any = None
        self._error: Optional[BaseException] = None
        #: ``(following, on_value, on_error)`` of each :meth:`then`; ``following`` is None
        #: for an :meth:`add_done_callback`. Kept flat: a forward settles three in a row.
        self._followers: list[tuple[Optional[Later], Callable, Optional[Callable]]] = []

    @classmethod
    def of(cls, value: T) -> Later[T]:
        """A Later that is already known (a single node, which needs no Redis)."""
        known = cls()
        known.set(value)
        return known

    def set(self, value: T) -> None:
        self._value = value
        self._settle()

    def set_exception(self, error: BaseException) -> None:
        self._error = error
        self._settle()

    def result(self) -> T:
        """The value, or the exception raised; only once :attr:`done`."""
        if self._error is not None:
            raise self._error
        return self._value

    def add_done_callback(self, callback: Callable[[Later[T]], None]) -> None:
        """``callback(self)`` once known: now, if it is."""
        self._follow((None, callback, None))

    def then(
        self,
        on_value: Callable[[T], U],
        on_error: Optional[Callable[[BaseException], U]] = None,
    ) -> Later[U]:
        """A Later of ``on_value(value)``, or of ``on_error(exception)`` (without it, the
        exception passes on); what either raises becomes the new Later's exception."""
        following: Later[U] = Later()
        self._follow((following, on_value, on_error))
        return following

    def _follow(self, follower: tuple) -> None:
        if self.done:
            self._hand_on(*follower)
        else:
            self._followers.append(follower)

    def _settle(self) -> None:
        self.done = True
        followers, self._followers = self._followers, []
        for follower in followers:
            self._hand_on(*follower)

    def _hand_on(
        self, following: Optional[Later], on_value: Callable, on_error: Optional[Callable]
    ) -> None:
        if following is None:
            try:
                on_value(self)
            except Exception:  # one callback's failure must not keep the others from running
                log.exception("a callback of a publish's result failed")
            return
        try:
            if self._error is None:
                value = on_value(self._value)
            elif on_error is not None:
                value = on_error(self._error)
            else:
                following.set_exception(self._error)
                return
        except Exception as exc:
            following.set_exception(exc)
            return
        following.set(value)

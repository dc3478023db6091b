"""Presence: which users have at least one session in a namespace.

Counting is per user, so a second tab of the same user changes nothing that others see.
One interface, two stores: :class:`~playwire.presence.memory.MemoryPresence` for a single
node and :class:`~playwire.presence.redis.RedisPresence` for a cluster. Both pass the same
contract tests (``tests/test_presence.py``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Optional

from playwire.identity import Member


@dataclass(frozen=True)
class Departure:
    """A member whose last session in ``namespace`` is gone."""

    namespace: str
    member: Member


@dataclass(frozen=True)
class Arrival:
    """A member who is back in ``namespace`` after their sessions had been swept."""

    namespace: str
    member: Member


class PresenceStore(ABC):
    """Session counts per user and namespace; every method is atomic."""

    #: Seconds between two calls of :meth:`refresh` and :meth:`expire` on every node;
    #: None when the store needs neither (one node).
    interval: Optional[float] = None

    @abstractmethod
    def join(self, namespace: str, member: Member, sid: str) -> bool:
        """Record a session; True when it is the member's first one in the namespace."""

    @abstractmethod
    def leave(self, namespace: str, member: Member, sid: str) -> bool:
        """Forget a session; True when it was the member's last one in the namespace."""

    @abstractmethod
    def members(self, namespace: str) -> list[Member]:
        """The members with at least one session in the namespace, ordered by id."""

    @abstractmethod
    def is_online(self, namespace: str, user_id: int) -> bool:
        """Whether the user has at least one session in the namespace."""

    def refresh(self) -> list[Arrival]:
        """Renew the expiry of this node's sessions; the members whose sessions had expired.

        Their departure was announced, so the caller announces them again.
        """
        return []

    def expire(self) -> list[Departure]:
        """Drop sessions whose node stopped refreshing them; the members who left with them.

        A single process never loses sessions without seeing them disconnect, so the
        memory store has nothing to expire.
        """
        return []

    def close(self) -> None:  # noqa: B027  (optional hook, not abstract)
        """Release connections held by the store."""

"""Presence: which users have at least one session in a namespace.

Counting is per user, so a second tab of the same user changes nothing that others see.
The same holds for rooms inside a namespace. A namespace above its presence limit is
*limited*: its arrivals and departures are no longer announced one by one; the store keeps
that state, so every node of a cluster decides alike (docs/protocol.md, "Presence limit").
One interface, two stores: :class:`~playwire.presence.memory.MemoryPresence` for a single
node and :class:`~playwire.presence.redis.RedisPresence` for a cluster. Both pass the same
contract tests (``tests/test_presence.py``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Optional

from playwire.identity import Member


@dataclass(frozen=True)
class Departure:
    """A member whose last session in ``namespace`` (or in ``room`` of it) is gone."""

    namespace: str
    member: Member
    room: Optional[str] = None


@dataclass(frozen=True)
class Arrival:
    """A member who is back in ``namespace`` (or in ``room`` of it) after their sessions had
    been swept."""

    namespace: str
    member: Member
    room: Optional[str] = None


@dataclass(frozen=True)
class Limits:
    """The bounds a store enforces (the ``--presence-limit`` and room flags)."""

    presence: int = 1000
    rooms_per_session: int = 32
    room_users: int = 1000

    @property
    def presence_low(self) -> float:
        """Below this many users a limited namespace returns to full presence."""
        return 0.9 * self.presence


@dataclass(frozen=True)
class Census:
    """A namespace's user count and whether it is limited; ``switched`` when the call that
    returned it moved the namespace across the limit (its caller tells every session)."""

    count: int
    limited: bool
    switched: bool = False


@dataclass(frozen=True)
class Change:
    """What a join or leave did: ``user`` is the member's first session (join) or last
    (leave) in the namespace; ``census`` the namespace after it."""

    user: bool
    census: Census


@dataclass(frozen=True)
class RoomJoin:
    """The outcome of joining a room: ``refused`` is an error code (``too_many_rooms``,
    ``room_full``) or None; ``first`` when it is the member's first session in the room;
    ``members`` the room's users afterwards, ordered by id."""

    refused: Optional[str] = None
    first: bool = False
    members: list[Member] = field(default_factory=list)


class PresenceStore(ABC):
    """Session counts per user, per namespace and per room; every method is atomic."""

    #: Seconds between two calls of :meth:`refresh` and :meth:`expire` on every node;
    #: None when the store needs neither (one node).
    interval: Optional[float] = None

    def __init__(self, limits: Optional[Limits] = None) -> None:
        self.limits = limits or Limits()

    @abstractmethod
    def join(self, namespace: str, member: Member, sid: str) -> Change:
        """Record a session; ``user`` when it is the member's first one in the namespace."""

    @abstractmethod
    def leave(self, namespace: str, member: Member, sid: str) -> Change:
        """Forget a session; ``user`` when it was the member's last one in the namespace.

        Its rooms are not left here: call :meth:`leave_rooms` first."""

    @abstractmethod
    def census(self, namespace: str) -> Census:
        """The namespace's count, switching it across the limit if the count has moved
        there by other means (sessions swept, or restored by a refresh)."""

    @abstractmethod
    def join_room(self, namespace: str, room: str, member: Member, sid: str) -> RoomJoin:
        """Put a session in a room, within the limits; joining again changes nothing."""

    @abstractmethod
    def leave_room(self, namespace: str, room: str, member: Member, sid: str) -> Optional[bool]:
        """Take a session out of a room: None if it was not in it, True if it was the
        member's last session there."""

    @abstractmethod
    def leave_rooms(self, namespace: str, member: Member, sid: str) -> list[str]:
        """Take a session out of every room it is in; the rooms the member has left."""

    @abstractmethod
    def room_members(self, namespace: str, room: str) -> list[Member]:
        """The members with at least one session in the room, ordered by id."""

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
        """Drop sessions whose node stopped refreshing them, from their namespace and their
        rooms; the members who left either with them.

        A single process never loses sessions without seeing them disconnect, so the
        memory store has nothing to expire.
        """
        return []

    def hand_over(self, namespace: str, sid: str) -> None:  # noqa: B027  (optional hook)
        """The session moved to another node, which keeps it alive from now on: this node
        stops renewing it. Nothing in the store changes (same sid, user and rooms). A
        single node never moves sessions."""

    def take_over(  # noqa: B027  (optional hook)
        self, namespace: str, member: Member, sid: str, rooms: set[str]
    ) -> None:
        """A session moved here from another node (:meth:`hand_over`): this node renews it,
        and its rooms, from now on, so that the sweep removes it if this node dies."""

    def close(self) -> None:  # noqa: B027  (optional hook, not abstract)
        """Release connections held by the store."""

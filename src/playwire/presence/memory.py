"""Presence held in this process's memory: the store of a single node."""

from __future__ import annotations

import threading
from collections import defaultdict

from playwire.identity import Member
from playwire.presence import PresenceStore


class MemoryPresence(PresenceStore):
    """Sessions per user id per namespace in dictionaries, behind one lock."""

    def __init__(self) -> None:
        self._members: dict[str, dict[int, Member]] = defaultdict(dict)
        self._sessions: dict[str, dict[int, set[str]]] = defaultdict(dict)
        self._lock = threading.Lock()

    def join(self, namespace: str, member: Member, sid: str) -> bool:
        with self._lock:
            sessions = self._sessions[namespace].setdefault(member.id, set())
            first = not sessions
            sessions.add(sid)
            self._members[namespace][member.id] = member
            return first

    def leave(self, namespace: str, member: Member, sid: str) -> bool:
        with self._lock:
            by_user = self._sessions[namespace]
            sessions = by_user.get(member.id)
            if not sessions or sid not in sessions:
                return False
            sessions.discard(sid)
            if sessions:
                return False
            del by_user[member.id]
            del self._members[namespace][member.id]
            return True

    def members(self, namespace: str) -> list[Member]:
        with self._lock:
            return sorted(self._members[namespace].values(), key=lambda member: member.id)

    def is_online(self, namespace: str, user_id: int) -> bool:
        return user_id in self._sessions[namespace]

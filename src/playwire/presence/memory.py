"""Presence held in this process's memory: the store of a single node."""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from typing import Optional

from playwire.errors import ROOM_FULL, TOO_MANY_ROOMS
from playwire.identity import Member
from playwire.presence import Census, Change, Limits, PresenceStore, RoomJoin


class MemoryPresence(PresenceStore):
    """Sessions per user id per namespace (and per room) in dictionaries, behind one lock."""

    def __init__(self, limits: Optional[Limits] = None) -> None:
        super().__init__(limits)
        self._members: dict[str, dict[int, Member]] = defaultdict(dict)
        self._sessions: dict[str, dict[int, set[str]]] = defaultdict(dict)
        self._limited: set[str] = set()
        # namespace -> the ids of _members, ordered: every connect below the presence limit
        # reads the ordered list, and sorting it each time was a tenth of a connect's CPU.
        self._ids: dict[str, list[int]] = defaultdict(list)
        # namespace -> room -> user id -> sessions; namespace -> sid -> rooms
        self._rooms: dict[str, dict[str, dict[int, set[str]]]] = defaultdict(dict)
        self._session_rooms: dict[str, dict[str, set[str]]] = defaultdict(dict)
        self._lock = threading.Lock()

    def join(self, namespace: str, member: Member, sid: str) -> Change:
        with self._lock:
            sessions = self._sessions[namespace].setdefault(member.id, set())
            first = not sessions
            sessions.add(sid)
            self._members[namespace][member.id] = member
            if first:
                bisect.insort(self._ids[namespace], member.id)
            return Change(first, self._census(namespace))

    def leave(self, namespace: str, member: Member, sid: str) -> Change:
        with self._lock:
            by_user = self._sessions[namespace]
            sessions = by_user.get(member.id)
            if not sessions or sid not in sessions:
                return Change(False, self._census(namespace))
            sessions.discard(sid)
            if sessions:
                return Change(False, self._census(namespace))
            del by_user[member.id]
            del self._members[namespace][member.id]
            ids = self._ids[namespace]
            del ids[bisect.bisect_left(ids, member.id)]
            return Change(True, self._census(namespace))

    def census(self, namespace: str) -> Census:
        with self._lock:
            return self._census(namespace)

    def _census(self, namespace: str) -> Census:
        """The count, and the switch across the limit if due; called under the lock."""
        count = len(self._sessions[namespace])
        limited = namespace in self._limited
        if not limited and count > self.limits.presence:
            self._limited.add(namespace)
            return Census(count, True, switched=True)
        if limited and count < self.limits.presence_low:
            self._limited.discard(namespace)
            return Census(count, False, switched=True)
        return Census(count, limited)

    def members(self, namespace: str) -> list[Member]:
        with self._lock:
            members = self._members[namespace]
            return [members[user_id] for user_id in self._ids[namespace]]

    def is_online(self, namespace: str, user_id: int) -> bool:
        return user_id in self._sessions[namespace]

    def join_room(self, namespace: str, room: str, member: Member, sid: str) -> RoomJoin:
        with self._lock:
            joined = self._session_rooms[namespace].get(sid, set())
            users = self._rooms[namespace].get(room, {})
            first = False
            if room not in joined:
                if len(joined) >= self.limits.rooms_per_session:
                    return RoomJoin(refused=TOO_MANY_ROOMS)
                if member.id not in users and len(users) >= self.limits.room_users:
                    return RoomJoin(refused=ROOM_FULL)
                self._session_rooms[namespace][sid] = joined
                self._rooms[namespace][room] = users
                joined.add(room)
                sessions = users.setdefault(member.id, set())
                first = not sessions
                sessions.add(sid)
            return RoomJoin(first=first, members=self._room_members(namespace, room))

    def leave_room(self, namespace: str, room: str, member: Member, sid: str) -> Optional[bool]:
        with self._lock:
            joined = self._session_rooms[namespace].get(sid)
            if not joined or room not in joined:
                return None
            joined.discard(room)
            if not joined:
                del self._session_rooms[namespace][sid]
            return self._drop_from_room(namespace, room, member.id, sid)

    def leave_rooms(self, namespace: str, member: Member, sid: str) -> list[str]:
        with self._lock:
            joined = self._session_rooms[namespace].pop(sid, set())
            return sorted(r for r in joined if self._drop_from_room(namespace, r, member.id, sid))

    def _drop_from_room(self, namespace: str, room: str, user_id: int, sid: str) -> bool:
        users = self._rooms[namespace].get(room, {})
        sessions = users.get(user_id, set())
        sessions.discard(sid)
        if sessions:
            return False
        users.pop(user_id, None)
        if not users:
            self._rooms[namespace].pop(room, None)
        return True

    def room_members(self, namespace: str, room: str) -> list[Member]:
        with self._lock:
            return self._room_members(namespace, room)

    def _room_members(self, namespace: str, room: str) -> list[Member]:
        names = self._members[namespace]
        users = self._rooms[namespace].get(room, {})
        return [names.get(uid, Member(uid, "")) for uid in sorted(users)]

"""Revoked tokens in this process's memory: the store of a single node."""

from __future__ import annotations

import heapq
import threading
import time
from typing import Callable

from playwire.revocation import RevocationStore


class MemoryRevocations(RevocationStore):
    """A dict of id → expiry, swept of expired ids at each revocation (so it stays bounded
    by the logouts of one token lifetime)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self._by_expiry: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def revoke(self, token_id: str, expires_at: float) -> None:
        with self._lock:
            self._sweep()
            if expires_at > self._clock():
                self._expiry[token_id] = expires_at
                heapq.heappush(self._by_expiry, (expires_at, token_id))

    def is_revoked(self, token_id: str) -> bool:
        expires_at = self._expiry.get(token_id)
        return expires_at is not None and expires_at > self._clock()

    def _sweep(self) -> None:
        now = self._clock()
        while self._by_expiry and self._by_expiry[0][0] <= now:
            _, token_id = heapq.heappop(self._by_expiry)
            if self._expiry.get(token_id, now + 1) <= now:
                del self._expiry[token_id]

"""Revoked tokens in Redis: the store of a cluster, one key per id, expiring with its token.

Each key stands alone, so on a Redis Cluster the keys spread over every shard."""

from __future__ import annotations

import math
import time

from playwire.errors import ServiceUnavailable
from playwire.redis_client import REDIS_ERRORS, connect
from playwire.revocation import RevocationStore

KEY_PREFIX = "playwire:revoked:"


class RedisRevocations(RevocationStore):
    """Revocations shared by every node that uses the same Redis database."""

    def __init__(self, url: str) -> None:
        self._redis = connect(url, socket_timeout=5)

    def revoke(self, token_id: str, expires_at: float) -> None:
        lifetime_ms = math.ceil((expires_at - time.time()) * 1000)
        if lifetime_ms > 0:
            self._call(self._redis.set, KEY_PREFIX + token_id, 1, px=lifetime_ms)

    def is_revoked(self, token_id: str) -> bool:
        return bool(self._call(self._redis.exists, KEY_PREFIX + token_id))

    @staticmethod
    def _call(function, *args, **kwargs):
        try:
            return function(*args, **kwargs)
        except REDIS_ERRORS as exc:
            raise ServiceUnavailable() from exc

"""Revoked tokens: the ids of tokens ended by a logout, kept until the tokens expire.

Tokens are stateless otherwise (``playwire.tokens``), so logging out adds the token's id
here and every check of a token asks this store. One interface, two stores:
:class:`~playwire.revocation.memory.MemoryRevocations` for a single node and
:class:`~playwire.revocation.redis.RedisRevocations` for a cluster, where a logout on one
node is seen by all. Both pass the same contract tests (``tests/test_revocation.py``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod


class RevocationStore(ABC):
    """Token ids that are no longer accepted, each forgotten when its token expires."""

    @abstractmethod
    def revoke(self, token_id: str, expires_at: float) -> None:
        """Refuse the token from now on; ``expires_at`` (Unix time) is when it expires anyway."""

    @abstractmethod
    def is_revoked(self, token_id: str) -> bool:
        """Whether the token was revoked (and has not expired since)."""

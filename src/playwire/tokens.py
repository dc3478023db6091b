"""Login tokens: signed with the server's secret key, expiring after a configured time.

A token carries the user's id and username, so a connection is authenticated without a
database query, and a random id of its own (``jti``): logging out revokes that id
(``playwire.revocation``), and every check of a token asks whether it was revoked.

:meth:`TokenSigner.verify` is the one check of every token: it also accepts the JWTs of the
game's own backend when keys for them are configured (:mod:`playwire.jwt_identity`). Those
are the backend's to end (by their ``exp``); logout revokes Playwire's own tokens.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Optional

from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer

from playwire import jsonlib
from playwire.errors import INVALID_TOKEN, TOKEN_EXPIRED
from playwire.identity import Member
from playwire.revocation import RevocationStore
from playwire.revocation.memory import MemoryRevocations

if TYPE_CHECKING:
    from playwire.jwt_identity import JwtVerifier

SALT = "playwire.token"


class TokenError(Exception):
    """A token that does not identify anyone; ``str(error)`` is the refusal message."""


@dataclass(frozen=True)
class TokenSigner:
    secret_key: str
    ttl: int
    jwt: Optional[JwtVerifier] = None
    revocations: RevocationStore = field(default_factory=MemoryRevocations)

    @cached_property
    def _serializer(self) -> URLSafeTimedSerializer:
        """Built once: every connect verifies a token, and building a serializer cost as
        much as using it (itsdangerous test-serializes an empty dict each time). The wire's
        JSON (:mod:`playwire.jsonlib`): compact like itsdangerous's own, and faster to read."""
        return URLSafeTimedSerializer(self.secret_key, salt=SALT, serializer=jsonlib)

    def issue(self, member: Member, ttl: Optional[int] = None) -> str:
        """A token for ``member``, valid for ``ttl`` seconds from now (default and most: the
        signer's, as :meth:`verify` refuses older tokens; a shorter one is written in it),
        or until revoked."""
        payload: dict = {
            "id": member.id,
            "username": member.username,
            "jti": secrets.token_urlsafe(12),
        }
        if ttl is not None:
            if not 0 < ttl <= self.ttl:
                raise ValueError(f"a token's ttl must be 1 to {self.ttl} seconds")
            if ttl < self.ttl:
                payload["exp"] = int(time.time()) + ttl
        return self._serializer.dumps(payload)

    def verify(self, token: object, check_revoked: bool = True) -> Member:
        """The member a token names, or TokenError("invalid token" / "token expired").

        A revoked token is an invalid one. ServiceUnavailable if the cluster's Redis, which
        holds the revocations, cannot be reached.
        """
        if self.jwt is not None and isinstance(token, str) and self.jwt.accepts(token):
            return self.jwt.verify(token)
        payload, _ = self._load(token)
        if check_revoked and self.revocations.is_revoked(_token_id(payload, token)):
            raise TokenError(INVALID_TOKEN)
        return Member(id=int(payload["id"]), username=str(payload["username"]))

    def revoke(self, token: object) -> Optional[Member]:
        """End a token everywhere until it would have expired; the member it named, if any."""
        try:
            payload, expires_at = self._load(token)
        except TokenError:
            return None  # nothing to revoke: it is refused already (or a backend's JWT)
        self.revocations.revoke(_token_id(payload, token), expires_at)
        return Member(id=int(payload["id"]), username=str(payload["username"]))

    def _load(self, token: object) -> tuple[dict, float]:
        """The payload and expiry time (Unix seconds) of a valid, unexpired Playwire token."""
        if not isinstance(token, str) or not token:
            raise TokenError(INVALID_TOKEN)
        try:
            payload, signed_at = self._serializer.loads(
                token, max_age=self.ttl, return_timestamp=True
            )
        except SignatureExpired as exc:
            raise TokenError(TOKEN_EXPIRED) from exc
        except BadData as exc:
            raise TokenError(INVALID_TOKEN) from exc
        expires_at = signed_at.timestamp() + self.ttl
        if "exp" in payload:
            if time.time() >= payload["exp"]:
                raise TokenError(TOKEN_EXPIRED)
            expires_at = min(expires_at, payload["exp"])
        return payload, expires_at


def _token_id(payload: dict, token: str) -> str:
    """The token's ``jti``; tokens issued before there was one are known by their hash."""
    jti = payload.get("jti")
    if isinstance(jti, str) and jti:
        return jti
    return hashlib.sha256(token.encode()).hexdigest()[:32]

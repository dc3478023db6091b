"""Login tokens: signed with the server's secret key, expiring after a configured time.

A token carries the user's id and username, so a connection is authenticated without a
database query. Tokens are stateless: logging out clears the cookie but a token already
handed out stays valid until it expires.

:meth:`TokenSigner.verify` is the one check of every token: it also accepts the JWTs of the
game's own backend when keys for them are configured (:mod:`playwire.jwt_identity`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer

from playwire.errors import INVALID_TOKEN, TOKEN_EXPIRED
from playwire.identity import Member

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

    def _serializer(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.secret_key, salt=SALT)

    def issue(self, member: Member, ttl: Optional[int] = None) -> str:
        """A token for ``member``, valid for ``ttl`` seconds from now (default and most: the
        signer's, as :meth:`verify` refuses older tokens; a shorter one is written in it)."""
        payload: dict = {"id": member.id, "username": member.username}
        if ttl is not None:
            if not 0 < ttl <= self.ttl:
                raise ValueError(f"a token's ttl must be 1 to {self.ttl} seconds")
            if ttl < self.ttl:
                payload["exp"] = int(time.time()) + ttl
        return self._serializer().dumps(payload)

    def verify(self, token: object) -> Member:
        """The member a token names, or TokenError("invalid token" / "token expired")."""
        if not isinstance(token, str) or not token:
            raise TokenError(INVALID_TOKEN)
        if self.jwt is not None and self.jwt.accepts(token):
            return self.jwt.verify(token)
        try:
            payload = self._serializer().loads(token, max_age=self.ttl)
        except SignatureExpired as exc:
            raise TokenError(TOKEN_EXPIRED) from exc
        except BadData as exc:
            raise TokenError(INVALID_TOKEN) from exc
        if "exp" in payload and time.time() >= payload["exp"]:
            raise TokenError(TOKEN_EXPIRED)
        return Member(id=int(payload["id"]), username=str(payload["username"]))

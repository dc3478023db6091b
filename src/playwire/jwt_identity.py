"""Identity from the game's own backend: JWTs verified with PyJWT (docs/protocol.md, "JWTs").

Each kind of key verifies only its own algorithm, fixed by configuration and never taken
from the token: the HS256 secret only HS256, a PEM public key only RS256 (RSA) or ES256
(EC P-256), a JWKS key only the RS256/ES256 that JWKS gives it. ``alg: none`` and a token
HMAC-signed with the public key (algorithm confusion) therefore find no key and are refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import jwt

from playwire.config import Config
from playwire.errors import INVALID_TOKEN, TOKEN_EXPIRED
from playwire.identity import Member
from playwire.jwks import JwksKeys
from playwire.tokens import TokenError
from playwire.users import USERNAME_PATTERN

#: Seconds of clock difference tolerated between the backend and us, for exp, nbf and iat.
CLOCK_SKEW = 30
#: Largest user id: chat messages store ids in a 32-bit integer column.
MAX_USER_ID = 2**31 - 1
DIGITS = re.compile(r"[0-9]{1,10}")
OPTIONS: Any = {
    "require": ["exp", "sub"],
    # PyJWT wants a string sub; ours may be an integer, and _user_id checks it instead.
    "verify_sub": False,
    # An RSA key under 2048 bits served by a JWKS is refused rather than warned about.
    "enforce_minimum_key_length": True,
}


def load_public_key(path: str) -> tuple[Any, str]:
    """The PEM public key in the file and the one algorithm it verifies.

    ValueError unless it is an RSA key of at least 2048 bits (RS256) or an EC P-256 key
    (ES256); OSError if the file cannot be read.
    """
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(Path(path).read_bytes())
    except (TypeError, UnsupportedAlgorithm) as exc:
        raise ValueError(f"not a usable PEM public key: {exc}") from exc
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise ValueError(f"the RSA key has {key.key_size} bits; RS256 needs 2048 or more")
        return key, "RS256"
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return key, "ES256"
    raise ValueError("not an RSA or EC P-256 public key")


class JwtVerifier:
    """Turns a JWT of the game's backend into the member it names, or TokenError."""

    def __init__(
        self,
        secret: str = "",
        public_key: Optional[tuple[Any, str]] = None,
        jwks: Optional[JwksKeys] = None,
        audience: str = "",
        issuer: str = "",
        min_id: int = 0,
    ) -> None:
        self.secret = secret
        self.public_key = public_key
        self.jwks = jwks
        self.audience = audience or None
        self.issuer = issuer or None
        self.min_id = min_id

    @staticmethod
    def accepts(token: str) -> bool:
        """Whether the token is a JWT: three segments and a JSON header naming its ``alg``.

        Playwire's own tokens have three segments too, but theirs opens with the payload
        ``{"id", "username"}``, which names no ``alg``.
        """
        if token.count(".") != 2:
            return False
        try:
            return "alg" in jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return False

    def verify(self, token: str) -> Member:
        """The member of a valid JWT; TokenError("token expired") or TokenError("invalid token")."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenError(INVALID_TOKEN) from exc
        for key, algorithm in self._keys_for(header):
            try:
                claims = jwt.decode(
                    token,
                    key,
                    algorithms=[algorithm],
                    audience=self.audience,
                    issuer=self.issuer,
                    leeway=CLOCK_SKEW,
                    options=OPTIONS,
                )
            except jwt.InvalidSignatureError:
                continue  # signed with another of the configured keys, perhaps
            except jwt.ExpiredSignatureError as exc:
                raise TokenError(TOKEN_EXPIRED) from exc
            except jwt.PyJWTError as exc:
                raise TokenError(INVALID_TOKEN) from exc
            return self._member(claims)
        raise TokenError(INVALID_TOKEN)

    def _keys_for(self, header: dict) -> Iterator[tuple[Any, str]]:
        """The configured keys that verify the header's algorithm; the JWKS is asked last."""
        algorithm = header.get("alg")
        if algorithm == "HS256" and self.secret:
            yield self.secret, "HS256"
        if self.public_key is not None and self.public_key[1] == algorithm:
            yield self.public_key
        kid = header.get("kid")
        if self.jwks is not None and algorithm in ("RS256", "ES256") and isinstance(kid, str):
            found = self.jwks.get(kid)
            if found is not None and found.algorithm_name == algorithm:
                yield found.key, algorithm

    def _member(self, claims: dict) -> Member:
        user_id = self._user_id(claims["sub"])
        name = claims.get("name")
        if name is None:
            name = f"user{user_id}"
        if not isinstance(name, str) or not USERNAME_PATTERN.fullmatch(name):
            raise TokenError(INVALID_TOKEN)
        return Member(id=user_id, username=name)

    def _user_id(self, sub: object) -> int:
        """``sub`` as a user id: a JSON integer or a string of digits, within the id range."""
        if isinstance(sub, str) and DIGITS.fullmatch(sub):
            sub = int(sub)
        if type(sub) is not int or not max(self.min_id, 0) <= sub <= MAX_USER_ID:
            raise TokenError(INVALID_TOKEN)
        return sub


def build_jwt_verifier(config: Config) -> Optional[JwtVerifier]:
    """The verifier of the configured backend keys; None when no key is configured."""
    if not (config.jwt_secret or config.jwt_public_key or config.jwks_url):
        return None
    return JwtVerifier(
        secret=config.jwt_secret,
        public_key=load_public_key(config.jwt_public_key) if config.jwt_public_key else None,
        jwks=JwksKeys(config.jwks_url, config.jwks_cooldown) if config.jwks_url else None,
        audience=config.jwt_audience,
        issuer=config.jwt_issuer,
        min_id=config.jwt_min_id,
    )

"""playwire.tokens: signed, expiring tokens that carry a user's identity."""

from __future__ import annotations

import time

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from playwire.identity import Member
from playwire.tokens import TokenError, TokenSigner

ALICE = Member(id=7, username="alice")


def test_token_round_trip():
    signer = TokenSigner("key", ttl=60)
    assert signer.verify(signer.issue(ALICE)) == ALICE


@pytest.mark.parametrize("token", [None, "", 5, "garbage", "a.b.c"])
def test_malformed_tokens_are_invalid(token):
    with pytest.raises(TokenError, match="invalid token"):
        TokenSigner("key", ttl=60).verify(token)


def test_token_from_another_key_is_invalid():
    token = TokenSigner("other", ttl=60).issue(ALICE)
    with pytest.raises(TokenError, match="invalid token"):
        TokenSigner("key", ttl=60).verify(token)


def test_old_token_is_expired():
    class LongAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return 1_000_000

    old = URLSafeTimedSerializer("key", salt="playwire.token", signer=LongAgo)
    with pytest.raises(TokenError, match="token expired"):
        TokenSigner("key", ttl=60).verify(old.dumps({"id": 7, "username": "alice"}))


def test_token_issued_with_a_shorter_ttl_carries_its_expiry():
    signer = TokenSigner("key", ttl=600)
    payload = URLSafeTimedSerializer("key", salt="playwire.token").loads(signer.issue(ALICE, 30))
    assert 25 <= payload["exp"] - time.time() <= 30
    assert signer.verify(signer.issue(ALICE, 30)) == ALICE


def test_token_past_its_own_expiry_is_expired():
    past = URLSafeTimedSerializer("key", salt="playwire.token").dumps(
        {"id": 7, "username": "alice", "exp": int(time.time()) - 1}
    )
    with pytest.raises(TokenError, match="token expired"):
        TokenSigner("key", ttl=600).verify(past)


@pytest.mark.parametrize("ttl", [0, -1, 601])
def test_token_ttl_beyond_the_signers_is_refused(ttl):
    with pytest.raises(ValueError):
        TokenSigner("key", ttl=600).issue(ALICE, ttl)

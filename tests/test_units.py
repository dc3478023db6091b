"""Domain modules without the network: tokens, rate limiter, validation, relay rules, config."""

from __future__ import annotations

import time

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from playwire import jsonlib
from playwire.config import Config, ConfigError, load_config, with_secret_key
from playwire.errors import EventError
from playwire.forwarding import recipient_rooms, stamped, target_of, user_room
from playwire.identity import Member
from playwire.proxies import TrustedProxies
from playwire.ratelimit import TokenBucket
from playwire.tokens import TokenError, TokenSigner
from playwire.validation import event_payload

ALICE = Member(id=7, username="alice")


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# -- tokens ------------------------------------------------------------------------------


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


# -- rate limiter ------------------------------------------------------------------------


def test_bucket_allows_burst_then_refuses():
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=3, clock=clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]


def test_bucket_refills_at_rate_up_to_burst():
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=3, clock=clock)
    for _ in range(3):
        bucket.take()
    clock.now += 0.15  # one and a half tokens
    assert [bucket.take(), bucket.take()] == [True, False]
    clock.now += 100  # never more than the burst
    assert sum(bucket.take() for _ in range(10)) == 3


# -- validation --------------------------------------------------------------------------


@pytest.mark.parametrize("args", [(), ("x",), (1,), ([],), (None,), ({}, {}), ({"blob": b"\x00"},)])
def test_payload_must_be_one_object(args):
    with pytest.raises(EventError) as error:
        event_payload(args, 100)
    assert error.value.code == "invalid_payload"


def test_payload_limit_is_compact_utf8_json():
    payload = {"a": "é" * 10}  # {"a":"…"} = 8 bytes + 20 bytes of UTF-8
    assert event_payload((payload,), 28) is payload
    with pytest.raises(EventError) as error:
        event_payload((payload,), 27)
    assert error.value.code == "payload_too_large"


def test_jsonlib_handles_what_orjson_refuses():
    assert jsonlib.loads('{"big": 1180591620717411303424, "max": 18446744073709551615}') == {
        "big": 2.0**70,
        "max": 2**64 - 1,
    }
    assert jsonlib.loads('{"nan": NaN}')["nan"] != jsonlib.loads('{"nan": NaN}')["nan"]
    assert jsonlib.dumps({"a": [1, "é"]}, separators=(",", ":")) == '{"a":[1,"é"]}'
    assert jsonlib.encoded_size({"big": 2**70}) == len('{"big":1180591620717411303424}')


# -- relay rules -------------------------------------------------------------------------


@pytest.mark.parametrize("target", [None, True, False, 1.0, "1", [1], {"id": 1}])
def test_only_integers_are_targets(target):
    with pytest.raises(EventError) as error:
        target_of({"target": target})
    assert error.value.code == "invalid_target"


def test_target_and_stamp():
    assert target_of({"target": 3}) == 3
    payload = {"target": 3, "sender": 99, "move": 1}
    assert stamped(payload, 7) == {"target": 3, "sender": 7, "move": 1}
    assert payload["sender"] == 99  # the client's object is not modified


def test_rooms_are_strings_and_self_is_one_room():
    assert user_room(42) == "user:42"
    assert recipient_rooms(7, 7) == ["user:7"]
    assert recipient_rooms(7, 8) == ["user:8", "user:7"]


# -- config ------------------------------------------------------------------------------


def test_config_layers(tmp_path):
    (tmp_path / "config.json").write_text('{"port": 6000, "history_size": 9, "rate_burst": 5}')
    environ = {"PLAYWIRE_PORT": "7000", "PLAYWIRE_CORS_ORIGINS": "https://a.example, https://b"}
    config = load_config({"instance_dir": str(tmp_path), "history_size": "3"}, environ)
    assert (config.port, config.history_size, config.rate_burst) == (7000, 3, 5)
    assert config.cors_origins == ["https://a.example", "https://b"]


@pytest.mark.parametrize(
    "flags",
    [
        {"port": "70000"},
        {"rate_limit": "0"},
        {"message_queue": "http://x"},
        {"port": "abc"},
        {"log_level": "loud"},
        {"login_user_limit": "five a minute"},
        {"register_limit": ""},
        {"trusted_proxies": "10.0.0.0/8,nonsense"},
        {"cookie_secure": "maybe"},
        {"max_outbox": "100"},
    ],
)
def test_bad_config_is_refused(tmp_path, flags):
    with pytest.raises(ConfigError):
        load_config({"instance_dir": str(tmp_path), **flags}, {})


def test_generated_secret_key_is_kept(tmp_path):
    config = Config(instance_dir=str(tmp_path))
    first = with_secret_key(config).secret_key
    assert first and with_secret_key(config).secret_key == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert (
        with_secret_key(Config(instance_dir=str(tmp_path), secret_key="given")).secret_key
        == "given"
    )


# -- websocket frames --------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 127, 128, 65536 + 3])
def test_fast_unmask_matches_gevent_websocket(size):
    import os

    from geventwebsocket.websocket import Header

    from playwire.websocket import unmask_payload

    header = Header(length=size)
    header.mask = os.urandom(4)
    payload = os.urandom(size)
    assert unmask_payload(header, payload) == Header.mask_payload(header, payload)


# -- broadcast recipients ------------------------------------------------------------------


def test_broadcasts_skip_a_session_whose_connect_handler_still_runs():
    import socketio

    from playwire.upstream.socketio import PlaywireManager

    manager = PlaywireManager()
    socketio.Server(client_manager=manager)
    accepted = manager.connect("eio-accepted", "/chat")
    connecting = manager.pre_connect("eio-connecting", "/chat")
    assert [sid for sid, _ in manager.get_participants("/chat", None)] == [accepted]
    manager.connect(connecting, "/chat")
    recipients = {sid for sid, _ in manager.get_participants("/chat", None)}
    assert recipients == {accepted, connecting}


def test_abuse_limits_defaults():
    config = Config()
    assert (config.login_user_limit, config.login_address_limit, config.register_limit) == (
        "5 per 15 minutes",
        "30 per minute",
        "10 per hour",
    )
    assert (config.max_outbox, config.cookie_secure) == (1048576, "auto")
    assert config.trusted_proxies == []


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "client"),
    [
        ("203.0.113.5", "1.1.1.1", "203.0.113.5"),  # an untrusted peer's header is ignored
        ("10.0.0.2", "6.6.6.6, 198.51.100.4", "198.51.100.4"),
        ("10.0.0.2", "6.6.6.6, 198.51.100.4, 10.0.0.9", "198.51.100.4"),  # two proxies
        ("10.0.0.2", "garbage, 198.51.100.4", "198.51.100.4"),
        ("10.0.0.2", "198.51.100.4,garbage", "garbage"),  # right-most untrusted, whatever it is
        ("10.0.0.2", "", "10.0.0.2"),
        ("10.0.0.2", "10.0.0.3", "10.0.0.3"),  # only proxies: the first of them
        ("::1", "2001:db8::7", "2001:db8::7"),
    ],
)
def test_client_address_behind_trusted_proxies(peer, forwarded_for, client):
    proxies = TrustedProxies(["10.0.0.0/8", "::1"])
    environ = {"REMOTE_ADDR": peer, "HTTP_X_FORWARDED_FOR": forwarded_for}
    assert proxies.client_address(environ) == client

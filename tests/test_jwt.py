"""JWTs of the game's own backend (docs/protocol.md, "JWTs"): real servers, real clients.

The shared ``backend`` server trusts an HS256 secret and an RSA public key (PEM), and keeps
the ids apart as the docs say: its backend's users are numbered from 1,000,000,000 up
(``--jwt-min-id``), Playwire's own accounts from 1.
"""

from __future__ import annotations

import time

import jwt
import pytest
import requests

from helpers.jwts import (
    SECRET,
    by_hand,
    claims,
    ec_key,
    mint,
    new_id,
    public_pem,
    refusal,
    rsa_key,
    write_public_pem,
)
from helpers.server import ServerProcess
from playwire.config import ConfigError, load_config

MIN_ID = 1_000_000_000
NAMESPACES = ["/chat", "/forward", "/ping"]
RSA = rsa_key()
OTHER_RSA = rsa_key()


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    instance = tmp_path_factory.mktemp("jwt-backend")
    pem = write_public_pem(RSA, instance / "backend.pem")
    flags = ["--jwt-secret", SECRET, "--jwt-public-key", pem, "--jwt-min-id", str(MIN_ID)]
    process = ServerProcess(instance, *flags).start()
    process.shared = True  # clients ignore presence news of other tests' users
    yield process
    process.stop()


@pytest.fixture(autouse=True)
def users_of_this_test(request):
    if "backend" in request.fixturenames:
        request.getfixturevalue("backend").accounts.clear()


def jwt_user(server, name=None, key=SECRET, algorithm="HS256") -> dict:
    """A user of the game's backend, never registered with Playwire, and their token."""
    user_id = new_id()
    server.accounts.add(user_id)
    token = mint(key, algorithm, user_id, name=name)
    return {"id": user_id, "username": name or f"user{user_id}", "token": token}


def public(user: dict) -> dict:
    return {"id": user["id"], "username": user["username"]}


def test_hs256_user_is_present_in_every_namespace(backend, connect):
    user = jwt_user(backend, name="hs_player")
    for namespace in NAMESPACES:
        client = connect(backend, namespace, user["token"])
        assert public(user) in client.expect("presence")["users"]


def test_rs256_public_key_user_connects(backend, connect):
    user = jwt_user(backend, name="rs_player", key=RSA, algorithm="RS256")
    client = connect(backend, "/forward", user["token"])
    assert public(user) in client.expect("presence")["users"]


def test_digit_string_sub_and_default_name(backend, connect):
    user_id = new_id()
    backend.accounts.add(user_id)
    token = mint(SECRET, "HS256", str(user_id))
    client = connect(backend, "/forward", token)
    assert {"id": user_id, "username": f"user{user_id}"} in client.expect("presence")["users"]
    me = requests.get(
        backend.url + "/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert me.status_code == 200 and me.json() == {"id": user_id, "username": f"user{user_id}"}


def _unsigned(uid):
    return by_hand({"alg": "none", "typ": "JWT"}, claims(uid))


def _hmac_with_public_key(uid):
    """Algorithm confusion: HS256 keyed with the server's own public key."""
    return by_hand({"alg": "HS256", "typ": "JWT"}, claims(uid), secret=public_pem(RSA))


def _without(claim):
    return lambda uid: jwt.encode(
        {k: v for k, v in claims(uid).items() if k != claim}, SECRET, algorithm="HS256"
    )


REFUSED = {
    "expired": (lambda uid: mint(SECRET, "HS256", uid, ttl=-120), "token expired"),
    "expired-and-forged": (lambda uid: mint("f" * 64, "HS256", uid, ttl=-120), "invalid token"),
    "wrong-secret": (lambda uid: mint("f" * 64, "HS256", uid), "invalid token"),
    "other-rsa-key": (lambda uid: mint(OTHER_RSA, "RS256", uid), "invalid token"),
    "es256-no-such-key": (lambda uid: mint(ec_key(), "ES256", uid), "invalid token"),
    "alg-none": (_unsigned, "invalid token"),
    "hs256-with-public-key": (_hmac_with_public_key, "invalid token"),
    "no-exp": (_without("exp"), "invalid token"),
    "no-sub": (_without("sub"), "invalid token"),
    "sub-letters": (lambda uid: mint(SECRET, "HS256", "abc"), "invalid token"),
    "sub-mixed": (lambda uid: mint(SECRET, "HS256", f"{uid}a"), "invalid token"),
    "sub-negative": (lambda uid: mint(SECRET, "HS256", f"-{uid}"), "invalid token"),
    "sub-empty": (lambda uid: mint(SECRET, "HS256", ""), "invalid token"),
    "sub-float": (lambda uid: mint(SECRET, "HS256", uid + 0.5), "invalid token"),
    "sub-bool": (lambda uid: mint(SECRET, "HS256", True), "invalid token"),
    "sub-too-big": (lambda uid: mint(SECRET, "HS256", 2**31), "invalid token"),
    "sub-below-min-id": (lambda uid: mint(SECRET, "HS256", MIN_ID - 1), "invalid token"),
    "sub-1-below-min-id": (lambda uid: mint(SECRET, "HS256", "1"), "invalid token"),
    "name-with-space": (lambda uid: mint(SECRET, "HS256", uid, name="a b"), "invalid token"),
    "name-too-long": (lambda uid: mint(SECRET, "HS256", uid, name="x" * 33), "invalid token"),
    "name-not-string": (lambda uid: jwt.encode(claims(uid, name=5), SECRET), "invalid token"),
    "aud-not-expected": (lambda uid: mint(SECRET, "HS256", uid, aud="x"), "invalid token"),
    "not-yet-valid": (
        lambda uid: mint(SECRET, "HS256", uid, nbf=int(time.time()) + 600),
        "invalid token",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_refused_tokens(backend, transport, case):
    make, message = REFUSED[case]
    assert refusal(backend, "/chat", transport, make(new_id())) == message


def test_es256_public_key(start_server, connect, transport, tmp_path):
    key = ec_key()
    server = start_server("--jwt-public-key", write_public_pem(key, tmp_path / "es.pem"))
    user_id = new_id()
    client = connect(server, "/chat", mint(key, "ES256", user_id, name="es_player"))
    assert {"id": user_id, "username": "es_player"} in client.expect("presence")["users"]
    for forged in (
        mint(ec_key(), "ES256", user_id),
        mint(RSA, "RS256", user_id),
        by_hand({"alg": "HS256"}, claims(user_id), secret=public_pem(key)),
    ):
        assert refusal(server, "/chat", transport, forged) == "invalid token"


def test_audience_and_issuer_are_checked_when_set(start_server, connect, transport):
    iss = "https://backend.example"
    server = start_server("--jwt-secret", SECRET, "--jwt-audience", "game", "--jwt-issuer", iss)
    connect(server, "/ping", mint(SECRET, "HS256", 7, aud="game", iss=iss)).expect("presence")
    connect(server, "/ping", mint(SECRET, "HS256", 8, aud=["x", "game"], iss=iss))
    for wrong in (
        {"aud": "other", "iss": iss},
        {"iss": iss},
        {"aud": "game"},
        {"aud": "game", "iss": "x"},
    ):
        token = mint(SECRET, "HS256", 9, **wrong)
        assert refusal(server, "/ping", transport, token) == "invalid token", wrong


def join(server, connect, namespace, user):
    client = connect(server, namespace, user["token"])
    client.expect("presence")
    if namespace == "/chat":
        client.expect("history")
    return client


def test_chat_between_jwt_users_and_a_registered_user(backend, connect):
    alice = jwt_user(backend, name="alice_jwt")
    bob = jwt_user(backend, key=RSA, algorithm="RS256")
    carol = backend.register()
    a = join(backend, connect, "/chat", alice)
    b = join(backend, connect, "/chat", bob)
    assert a.expect("user_joined") == public(bob)
    c = join(backend, connect, "/chat", carol)
    assert a.expect("user_joined") == b.expect("user_joined") == public(carol)
    for sender, client in ((alice, a), (carol, c)):
        ack = client.call("message", {"message": f"hi from {sender['username']}"})
        assert ack["ok"] is True, ack
        for listener in (a, b, c):
            message = listener.expect("message")
            assert (message["user_id"], message["username"]) == (sender["id"], sender["username"])
    again = connect(backend, "/chat", bob["token"])
    again.expect("presence")
    history = again.expect("history")["messages"]
    assert [(m["user_id"], m["username"]) for m in history[-2:]] == [
        (alice["id"], alice["username"]),
        (carol["id"], carol["username"]),
    ]


def test_forward_between_jwt_users_and_a_registered_user(backend, connect):
    alice, bob = jwt_user(backend, name="alice_fw"), jwt_user(backend)
    carol = backend.register()
    a = join(backend, connect, "/forward", alice)
    b = join(backend, connect, "/forward", bob)
    c = join(backend, connect, "/forward", carol)
    assert a.expect("user_joined") == public(bob)
    assert a.expect("user_joined") == b.expect("user_joined") == public(carol)
    for (sender, client), (target, receiver) in (
        ((alice, a), (bob, b)),
        ((carol, c), (alice, a)),
        ((bob, b), (carol, c)),
    ):
        assert client.call("forward", {"target": target["id"], "move": 1}) == {"ok": True}
        assert receiver.expect("forwarded") == {
            "target": target["id"],
            "move": 1,
            "sender": sender["id"],
        }


def test_accounts_off_leaves_only_tokens(start_server, connect):
    server = start_server("--accounts", "off", "--jwt-secret", SECRET)
    body = {"username": "someone", "password": "correct-horse"}
    for path in ("/api/register", "/api/login"):
        response = requests.post(server.url + path, json=body, timeout=10)
        assert response.status_code == 404 and response.json()["error"] == "not_found"
    client = connect(server, "/chat", mint(SECRET, "HS256", 5, name="only_jwt"))
    assert client.expect("presence")["users"] == [{"id": 5, "username": "only_jwt"}]


@pytest.mark.parametrize(
    "flags",
    [
        {"jwt_secret": "too-short"},
        {"jwt_public_key": "/no/such/file.pem"},
        {"jwks_url": "file:///etc/passwd"},
        {"jwks_cooldown": 0},
        {"jwt_min_id": -1},
        {"accounts": "maybe"},
    ],
)
def test_bad_jwt_settings_stop_the_start(tmp_path, flags):
    with pytest.raises(ConfigError):
        load_config({"instance_dir": str(tmp_path), **flags}, environ={})


def test_weak_or_wrong_public_keys_stop_the_start(tmp_path):
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    p384 = ec.generate_private_key(ec.SECP384R1())
    for name, key in (("weak.pem", weak), ("p384.pem", p384)):
        path = write_public_pem(key, tmp_path / name)
        with pytest.raises(ConfigError, match="jwt_public_key"):
            load_config({"instance_dir": str(tmp_path), "jwt_public_key": path}, environ={})

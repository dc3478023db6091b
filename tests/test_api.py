"""The HTTP API (docs/protocol.md, "HTTP API") against a real server."""

from __future__ import annotations

import pytest
import requests

from helpers.server import PASSWORD, unique_name


def post(server, path, body=None, **kwargs):
    return requests.post(server.url + path, json=body, timeout=10, **kwargs)


def test_healthz(server):
    response = requests.get(server.url + "/healthz", timeout=10)
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readyz_of_a_single_node(server):
    response = requests.get(server.url + "/readyz", timeout=10)
    assert (response.status_code, response.json()) == (200, {"status": "ready"})


def test_register_returns_account_and_token(server):
    name = unique_name()
    response = post(server, "/api/register", {"username": name, "password": PASSWORD})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "username", "token"}
    assert body["username"] == name and isinstance(body["id"], int) and body["token"]


@pytest.mark.parametrize(
    "username",
    ["ab", "a" * 33, "has space", "dot.ted", "ünï", "", None, 123, ["abc"]],
)
def test_register_rejects_bad_usernames(server, username):
    response = post(server, "/api/register", {"username": username, "password": PASSWORD})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_username")


@pytest.mark.parametrize(
    "shape",
    ["3 characters", "32 characters", "every kind of character"],
)
def test_register_accepts_edge_usernames(server, shape):
    tag = unique_name("")  # 12 random hex digits: no other test registers the same name
    name = {
        "3 characters": tag[:3],
        "32 characters": tag + "A" * 20,
        "every kind of character": f"x_y-Z9{tag}",
    }[shape]
    response = post(server, "/api/register", {"username": name, "password": PASSWORD})
    assert response.status_code == 201, response.text
    assert response.json()["username"] == name


@pytest.mark.parametrize("password", ["short77", "", None, 12345678])
def test_register_rejects_bad_passwords(server, password):
    response = post(server, "/api/register", {"username": unique_name(), "password": password})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_password")


def test_register_taken_username_any_case(server):
    name = unique_name()
    assert post(server, "/api/register", {"username": name, "password": PASSWORD}).ok
    again = post(server, "/api/register", {"username": name, "password": PASSWORD})
    assert (again.status_code, again.json()["error"]) == (409, "username_taken")
    upper = post(server, "/api/register", {"username": name.upper(), "password": PASSWORD})
    assert (upper.status_code, upper.json()["error"]) == (409, "username_taken")


@pytest.mark.parametrize("path", ["/api/register", "/api/login"])
@pytest.mark.parametrize("body", ["not json", "[1, 2]", '"text"', "null", ""])
def test_invalid_json(server, path, body):
    response = requests.post(
        server.url + path, data=body, headers={"Content-Type": "application/json"}, timeout=10
    )
    assert (response.status_code, response.json()["error"]) == (400, "invalid_json")


def test_login_returns_token_and_cookie(server):
    account = server.register()
    response = post(server, "/api/login", {"username": account["username"], "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["username"]) == (account["id"], account["username"])
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    # Both identify the account: the token as a bearer, the cookie as a browser sends it.
    me = {"id": account["id"], "username": account["username"]}
    bearer = {"Authorization": f"Bearer {body['token']}"}
    assert requests.get(server.url + "/api/me", headers=bearer, timeout=10).json() == me
    session = {"playwire_session": response.cookies["playwire_session"]}
    assert requests.get(server.url + "/api/me", cookies=session, timeout=10).json() == me


@pytest.mark.parametrize(
    "credentials",
    [
        {"username": "nobody-here", "password": PASSWORD},
        {"password": PASSWORD},
        {"username": None, "password": None},
        {},
    ],
)
def test_login_rejects_bad_credentials(server, credentials):
    response = post(server, "/api/login", credentials)
    assert (response.status_code, response.json()["error"]) == (401, "invalid_credentials")


def test_login_rejects_wrong_password(server):
    account = server.register()
    response = post(server, "/api/login", {"username": account["username"], "password": "x" * 9})
    assert (response.status_code, response.json()["error"]) == (401, "invalid_credentials")


def test_me_with_cookie_then_logout(server):
    account = server.register()
    browser = requests.Session()
    login = browser.post(
        server.url + "/api/login",
        json={"username": account["username"], "password": PASSWORD},
        timeout=10,
    )
    assert login.status_code == 200
    me = browser.get(server.url + "/api/me", timeout=10)
    assert (me.status_code, me.json()) == (
        200,
        {"id": account["id"], "username": account["username"]},
    )
    logout = browser.post(server.url + "/api/logout", timeout=10)
    assert logout.status_code == 204 and logout.content == b""
    after = browser.get(server.url + "/api/me", timeout=10)
    assert (after.status_code, after.json()["error"]) == (401, "unauthenticated")


def test_me_with_bearer_token(server):
    account = server.register()
    headers = {"Authorization": f"Bearer {account['token']}"}
    me = requests.get(server.url + "/api/me", headers=headers, timeout=10)
    assert me.json() == {"id": account["id"], "username": account["username"]}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer forged.token.here"}])
def test_me_unauthenticated(server, headers):
    me = requests.get(server.url + "/api/me", headers=headers, timeout=10)
    assert (me.status_code, me.json()["error"]) == (401, "unauthenticated")


def test_unknown_api_path_and_method_are_json(server):
    missing = requests.get(server.url + "/api/nothing", timeout=10)
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    wrong = requests.get(server.url + "/api/login", timeout=10)
    assert (wrong.status_code, wrong.json()["error"]) == (405, "method_not_allowed")


def test_cors_headers_only_for_allowed_origins(start_server):
    server = start_server("--cors-origins", "https://game.example")
    allowed = requests.get(
        server.url + "/healthz", headers={"Origin": "https://game.example"}, timeout=10
    )
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://game.example"
    assert allowed.headers["Access-Control-Allow-Credentials"] == "true"
    foreign = requests.get(
        server.url + "/healthz", headers={"Origin": "https://evil.example"}, timeout=10
    )
    assert "Access-Control-Allow-Origin" not in foreign.headers

"""Presence events (docs/protocol.md, "Presence") on every namespace, both transports."""

from __future__ import annotations

import pytest

NAMESPACES = ["/chat", "/forward", "/ping"]


def member(account):
    return {"id": account["id"], "username": account["username"]}


def join(server, connect, namespace, account):
    """A new session and the users its ``presence`` listed (history read too, in /chat)."""
    client = connect(server, namespace, account["token"])
    users = client.expect("presence")["users"]
    if namespace == "/chat":
        client.expect("history")
    return client, users


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_second_tab_emits_nothing_and_last_tab_emits_user_left(server, connect, namespace):
    watcher, player = server.register(), server.register()
    observer, users = join(server, connect, namespace, watcher)
    assert member(watcher) in users

    tab1, users = join(server, connect, namespace, player)
    assert member(player) in users and member(watcher) in users
    assert observer.expect("user_joined") == member(player)

    tab2, users = join(server, connect, namespace, player)
    assert member(player) in users

    tab1.close()
    # Closing one of two tabs announces nothing; closing the last announces the departure,
    # and it is the very next event the observer sees ...
    tab2.close()
    assert observer.expect("user_left") == member(player)
    # ... and the only one: a newcomer's arrival comes next, with nothing in between.
    newcomer = server.register()
    join(server, connect, namespace, newcomer)
    assert observer.expect("user_joined") == member(newcomer)


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_presence_lists_each_user_once(server, connect, namespace):
    player = server.register()
    join(server, connect, namespace, player)
    _, users = join(server, connect, namespace, player)
    ids = [user["id"] for user in users]
    assert ids.count(player["id"]) == 1


def test_presence_is_per_namespace(server, connect):
    player, other, newcomer = server.register(), server.register(), server.register()
    forward = connect(server, "/forward", other["token"])
    forward.expect("presence")
    chat = connect(server, "/chat", player["token"])
    chat.expect("presence")
    chat.expect("history")
    # Neither listed in /forward nor announced there: the next user_joined that /forward
    # hears is of someone who joined /forward after the player joined /chat.
    users = connect(server, "/forward", newcomer["token"]).expect("presence")["users"]
    assert member(player) not in users and member(other) in users
    assert forward.expect("user_joined") == member(newcomer)
    assert chat.pending() == []


def test_joining_session_gets_no_user_joined_about_itself(server, connect):
    player = server.register()
    client = connect(server, "/ping", player["token"])
    client.expect("presence")
    assert client.call("ping", {})["ok"] is True
    assert client.pending() == []

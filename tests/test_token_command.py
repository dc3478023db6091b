"""``playwire token`` (README, "Operating Playwire"): a token for an existing account, accepted
by a running server with the same instance dir, and clear refusals."""

from __future__ import annotations

import pytest

from helpers.server import run_playwire


def token_for(server, *args: str):
    return run_playwire("token", "--instance-dir", str(server.instance_dir), *args)


@pytest.mark.parametrize("checked", [False, True], ids=["defaults", "username-and-ttl"])
def test_the_token_connects_to_chat_as_the_account(server, connect, checked):
    account = server.register()
    extra = ["--username", account["username"], "--ttl", "60"] if checked else []
    result = token_for(server, "--user-id", str(account["id"]), *extra)
    assert result.returncode == 0, result.stderr
    chat = connect(server, "/chat", result.stdout.strip())
    assert account["id"] in [user["id"] for user in chat.expect("presence")["users"]]
    chat.expect("history")
    assert chat.call("message", {"message": "minted"})["ok"] is True
    message = chat.expect("message")
    assert (message["user_id"], message["username"]) == (account["id"], account["username"])


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--user-id", "987654321"], "no account has id 987654321"),
        (["--user-id", "{id}", "--username", "someone_else"], "not 'someone_else'"),
        (["--user-id", "{id}", "--ttl", "0"], "--ttl must be 1 to 86400"),
        (["--user-id", "{id}", "--ttl", "86401"], "--ttl must be 1 to 86400"),
    ],
    ids=["unknown-id", "other-username", "zero-ttl", "ttl-beyond-token-ttl"],
)
def test_refusals_exit_non_zero_and_say_why(server, args, says):
    account = server.register()
    result = token_for(server, *[arg.format(id=account["id"]) for arg in args])
    assert result.returncode != 0 and result.stdout == ""
    assert says in result.stderr


def test_an_instance_dir_without_a_secret_key_is_refused(tmp_path):
    result = run_playwire("token", "--instance-dir", str(tmp_path), "--user-id", "1")
    assert result.returncode != 0 and "no secret key" in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing created there

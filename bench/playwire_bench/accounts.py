"""The users each server's clients connect as: accounts with tokens for Playwire, plain
user ids for the reference servers."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from playwire_bench import log
from playwire_bench.servers import BENCH_SECRET_KEY, Context, RunningServer

BENCH_PASSWORD = "bench-password-0"
# Minted users' ids start here, apart from the registered accounts' (their usernames differ).
MINTED_FIRST_ID = 1_000_000


def post_json(url: str, payload: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def token_account(server: RunningServer, index: int) -> dict:
    """Registers ``bench_<index>`` (or logs in if a previous start already registered it)."""
    credentials = {"username": f"bench_{index}", "password": BENCH_PASSWORD}
    status, body = post_json(server.url + "/api/register", credentials)
    if status == 409:
        status, body = post_json(server.url + "/api/login", credentials)
    if status not in (200, 201):
        raise RuntimeError(f"cannot get an account for bench_{index}: {status} {body}")
    return {"id": body["id"], "auth": {"token": body["token"]}}


def accounts_for(server: RunningServer, ctx: Context, count: int) -> list[dict]:
    """The first ``count`` users in the form loadgen.js takes: ``{"id", "auth"}``.

    Token accounts are registered once per invocation and kept: Playwire keeps its secret key in
    the instance directory, so the tokens stay valid across the restarts between scenarios, and
    password hashing (argon2) is slow on purpose.
    """
    if server.spec.auth == "user_id":
        return [{"id": i, "auth": {"user_id": i}} for i in range(1, count + 1)]
    known = ctx.accounts.setdefault(server.spec.name, [])
    if len(known) < count:
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=4) as pool:
            known.extend(pool.map(lambda i: token_account(server, i), range(len(known), count)))
        log(f"{server.spec.name}: {count} accounts ready in {time.monotonic() - started:.1f} s")
    return known[:count]


def minted_accounts(server: RunningServer, count: int) -> list[dict]:
    """``count`` distinct users with tokens signed by the server's own signer and key, none
    registered: thousands of accounts would take minutes of password hashing, and a token is
    all a connection needs (docs/protocol.md, "Connecting with Socket.IO"). Plain ids for the
    references."""
    if server.spec.auth == "user_id":
        return [{"id": i, "auth": {"user_id": i}} for i in range(1, count + 1)]
    from playwire.identity import Member  # the checkout's, as for playwire.devserver
    from playwire.tokens import TokenSigner

    signer = TokenSigner(BENCH_SECRET_KEY, 86400)
    ids = range(MINTED_FIRST_ID, MINTED_FIRST_ID + count)
    return [
        {"id": i, "auth": {"token": signer.issue(Member(id=i, username=f"load_{i}"))}} for i in ids
    ]

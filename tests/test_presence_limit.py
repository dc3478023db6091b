"""Namespace-wide presence bounded by --presence-limit (docs/protocol.md, "Presence limit"):
the switch both ways, presence_count, and 2,000 distinct users connecting to one server.

Identities come from tokens minted here with the server's own signer (the server runs with
a known --secret-key), so no account needs registering.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time

import pytest

from helpers.server import REPO_ROOT
from playwire.presence import Member
from playwire.tokens import TokenSigner

SECRET_KEY = "presence-limit-test-key"
SIGNER = TokenSigner(SECRET_KEY, 3600)


def user(n: int) -> Member:
    return Member(n, f"player{n}")


def token(n: int) -> str:
    return SIGNER.issue(user(n))


def events_until(client, event, timeout: float = 10.0):
    """The events before the next ``event``, and its data."""
    before = []
    while True:
        name, data = client.next(timeout)
        if name == event:
            return before, data
        before.append((name, data))


def test_the_limit_switches_both_ways(start_server, connect):
    server = start_server(
        "--secret-key", SECRET_KEY, "--presence-limit", "5", "--presence-count-interval", "0.3"
    )
    watcher = connect(server, "/forward", token(1))
    assert watcher.expect("presence") == {"users": [user(1).to_json()], "count": 1}
    sessions = {}
    for n in range(2, 6):
        sessions[n] = connect(server, "/forward", token(n))
        presence = sessions[n].expect("presence")
        assert presence["count"] == n and len(presence["users"]) == n
        assert watcher.expect("user_joined") == user(n).to_json()

    # The sixth user takes the namespace above the limit: everyone gets the count alone.
    sessions[6] = connect(server, "/forward", token(6))
    limited = {"users": [], "count": 6, "limited": True}
    assert sessions[6].expect("presence") == limited
    assert watcher.expect("presence") == limited
    sessions[7] = connect(server, "/forward", token(7))
    assert sessions[7].expect("presence") == {"users": [], "count": 7, "limited": True}
    # No user_joined while limited: the next event is the count, within the interval.
    assert watcher.expect("presence_count") == {"count": 7}
    # target_offline stays exact.
    assert watcher.call("forward", {"target": 7, "x": 1}) == {"ok": True}
    assert watcher.call("forward", {"target": 99, "x": 1})["error"] == "target_offline"
    before, forwarded = events_until(sessions[7], "forwarded")
    assert forwarded["sender"] == 1 and {name for name, _ in before} <= {"presence_count"}

    # Down to 5 users (not below 0.9 x 5): still limited. Down to 4: a fresh, full presence.
    for n in (7, 6, 5):
        sessions.pop(n).close()
    before, presence = events_until(watcher, "presence")
    assert {name for name, _ in before} <= {"presence_count"}
    assert presence == {"users": [user(n).to_json() for n in range(1, 5)], "count": 4}
    # Back to presence as ever: arrivals are announced again.
    sessions[8] = connect(server, "/forward", token(8))
    assert sessions[8].expect("presence")["count"] == 5
    assert watcher.expect("user_joined") == user(8).to_json()


def connect_many(server, namespace: str, transport: str, ids: range) -> dict:
    """Connect a session per id with the Node client, 50 in flight; its JSON report."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (make setup needs it)")
    config = {
        "url": server.url,
        "namespace": namespace,
        "transport": transport,
        "tokens": [token(n) for n in ids],
        "inFlight": 50,
    }
    result = subprocess.run(
        [node, str(REPO_ROOT / "tests" / "connect_many.js")],
        input=json.dumps(config),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


#: Seconds between presence_count events, per transport: each one ends every long-polling
#: session's pending poll, which its client opens again (two HTTP requests per session), so
#: at one second 2,000 long-polling sessions took the server's whole core.
COUNT_INTERVAL = {"websocket": 1, "polling": 5}


@pytest.mark.timeout(400)
def test_2000_distinct_users_connect_cheaply_above_the_limit(start_server, connect, transport):
    limit = 50
    server = start_server(
        "--secret-key",
        SECRET_KEY,
        "--presence-limit",
        str(limit),
        "--presence-count-interval",
        str(COUNT_INTERVAL[transport]),
        "--log-level",
        "warning",
        # The watcher's client gives up when it has sent nothing for 30 s: pongs keep it busy.
        "--ping-interval",
        "5",
    )
    watcher = connect(server, "/chat", token(1))
    assert watcher.expect("presence")["count"] == 1
    watcher.expect("history")
    started = time.monotonic()
    report = connect_many(server, "/chat", transport, range(2, 2001))
    elapsed = time.monotonic() - started
    assert report["connected"] == 1999 and report["failed"] == 0, report
    # The first 49 newcomers got lists (of at most 50 users); everyone after, the count.
    assert report["listed"] == limit - 1 and report["limited"] == 1999 - (limit - 1)
    assert report["maxUsers"] <= limit
    # The watcher heard of 49 arrivals one by one, then of the switch, then counts only, at
    # most one per interval; once the Node client has closed its sessions, the
    # namespace is back below 0.9 x limit and the watcher gets a full presence.
    arrivals = [watcher.expect("user_joined")["id"] for _ in range(2, limit + 1)]
    assert len(set(arrivals)) == limit - 1 and set(arrivals) <= set(range(2, 2001))
    switch = {"users": [], "count": limit + 1, "limited": True}
    assert watcher.expect("presence") == switch
    # (Long-polling sessions that did not say goodbye leave at their ping timeout, 25 s; the
    # 1,999 departures are work of the arrivals' size, so a machine slow to connect them is
    # given as long again, twice, to see them leave.)
    leaving = 60 + 2 * report["elapsedMs"] / 1000
    before, presence = events_until(watcher, "presence", timeout=leaving)
    elapsed = time.monotonic() - started
    assert {name for name, _ in before} <= {"presence_count"}, before[:5]
    assert 1 <= len(before) <= elapsed / COUNT_INTERVAL[transport] + 2
    assert max(data["count"] for _, data in before) <= 2000
    assert "limited" not in presence and presence["count"] < 0.9 * limit
    assert len(presence["users"]) == presence["count"]
    print(f"2,000 users over {transport}: connected in {report['elapsedMs'] / 1000:.1f} s")
    if transport == "websocket":  # long-polling's handshakes are many requests each
        assert report["elapsedMs"] < 120_000  # a bound for a loaded 2-core machine

"""GET /metrics over real connections: values move with sessions and events; access rules."""

from __future__ import annotations

import json
import re

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from requests.adapters import HTTPAdapter

from helpers.server import REPO_ROOT


class SourceAddressAdapter(HTTPAdapter):
    """Connects from a chosen local address: on Linux all of 127/8 is loopback, so a test
    can be a "different host" for the server's peer-address check over a real TCP wire."""

    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


def get_metrics(url: str, source: str = "127.0.0.1", headers=None) -> requests.Response:
    with requests.Session() as http:
        http.trust_env = False
        http.mount("http://", SourceAddressAdapter(source))
        return http.get(url + "/metrics", headers=headers, timeout=10)


def scrape(server) -> dict[tuple[str, tuple], float]:
    """Every sample, keyed by (name, sorted labels)."""
    response = get_metrics(server.url)
    assert response.status_code == 200, response.text
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_follow_sessions_events_errors_and_disconnects(start_server, connect):
    server = start_server()
    alice, bob = server.register(), server.register()
    a = connect(server, "/forward", alice["token"])
    a.expect("presence")
    b = connect(server, "/forward", bob["token"])
    b.expect("presence")
    assert a.expect("user_joined")["id"] == bob["id"]
    before = scrape(server)
    assert value(before, "playwire_sessions", namespace="/forward") == 2
    assert value(before, "playwire_users_online", namespace="/forward") == 2
    assert value(before, "playwire_rooms", namespace="/forward") == 0

    assert a.call("forward", {"target": bob["id"], "n": 1}) == {"ok": True}
    assert b.expect("forwarded")["n"] == 1
    a.emit("no_such_event", {})
    assert a.expect("error")["error"] == "unknown_event"
    after = scrape(server)
    ns = {"namespace": "/forward"}
    assert value(after, "playwire_events_received_total", event="forward", **ns) == 1
    assert value(after, "playwire_events_received_total", event="_unknown", **ns) == 1
    assert value(after, "playwire_event_errors_total", error="unknown_event", **ns) == 1
    assert value(after, "playwire_event_seconds_count", **ns) == 2
    assert value(after, "playwire_event_seconds_bucket", le="+Inf", **ns) == 2
    # The forwarded to Bob and the error event to Alice; nothing to Alice's own session.
    delivered = value(after, "playwire_deliveries_total", **ns)
    assert delivered - value(before, "playwire_deliveries_total", **ns) == 2

    b.close()
    assert a.expect("user_left")["id"] == bob["id"]
    gone = scrape(server)
    # "client disconnect", or "transport close" when the socket closes before the packet.
    reasons = {dict(labels)["reason"]: v for (name, labels), v in gone.items() if "disconn" in name}
    assert sum(reasons.values()) == 1, reasons
    assert value(gone, "playwire_sessions", namespace="/forward") == 1
    assert value(gone, "playwire_users_online", namespace="/forward") == 1


def test_invented_event_names_share_one_label(start_server, connect):
    server = start_server()
    client = connect(server, "/ping", server.register()["token"])
    client.expect("presence")
    for index in range(5):
        assert client.call(f"made_up_{index}", {})["error"] == "unknown_event"
    samples = scrape(server)
    events = {dict(labels)["event"] for name, labels in samples if name.endswith("received_total")}
    assert not any(event.startswith("made_up") for event in events)
    assert (
        value(samples, "playwire_events_received_total", namespace="/ping", event="_unknown") == 5
    )


@pytest.mark.parametrize(
    ("allow", "source", "status"),
    [
        (None, "127.0.0.3", 200),  # default: all of loopback
        ("127.0.0.1/32", "127.0.0.3", 403),
        ("127.0.0.1/32", "127.0.0.1", 200),
        ("10.0.0.0/8,127.0.0.3/32", "127.0.0.3", 200),
    ],
)
def test_metrics_are_answered_by_the_peer_address(start_server, allow, source, status):
    flags = ["--host", "127.0.0.2"] + (["--metrics-allow", allow] if allow else [])
    server = start_server(*flags)
    response = get_metrics(server.url, source=source)
    assert response.status_code == status
    # A header cannot buy access: only the TCP peer counts.
    if status == 403:
        spoofed = get_metrics(server.url, source, headers={"X-Forwarded-For": "127.0.0.1"})
        assert spoofed.status_code == 403


def test_metrics_off_is_404(start_server):
    server = start_server("--metrics", "off")
    assert get_metrics(server.url).status_code == 404


def test_the_grafana_dashboard_and_prometheus_config_match_the_metrics(server):
    """deploy/: every series the dashboard queries is exported; Prometheus scrapes 5001-5003."""
    # Family names, whether or not they have samples yet (counters without _total).
    text = get_metrics(server.url).text
    exported = {family.name for family in text_string_to_metric_families(text)}
    dashboard = json.loads((REPO_ROOT / "deploy/grafana-dashboard.json").read_text())
    queries = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    series = {name for query in queries for name in re.findall(r"\bplaywire_\w+", query)}
    used = {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in series}
    assert used, "the dashboard queries nothing"
    assert used <= exported, used - exported
    scrape_config = (REPO_ROOT / "deploy/prometheus.yml").read_text()
    for port in (5001, 5002, 5003):
        assert f"127.0.0.1:{port}" in scrape_config

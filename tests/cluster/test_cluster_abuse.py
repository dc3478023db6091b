"""Limits and abuse on a cluster (docs/protocol.md): a logout and the login counts hold on
every node, since both live in the cluster's Redis."""

from __future__ import annotations

import pytest
import requests

from helpers.clients import Refused
from helpers.server import PASSWORD

pytestmark = [pytest.mark.cluster, pytest.mark.every_topology]


def test_a_logout_on_one_node_revokes_the_token_on_every_node(cluster, connect):
    account = cluster.register()
    token = account["token"]
    first = cluster.nodes[0]
    for node in cluster.nodes:
        connect(node, "/forward", token).expect("presence")
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.post(first.url + "/api/logout", headers=headers, timeout=10).status_code == 204
    for node in cluster.nodes:
        with pytest.raises(Refused, match="invalid token"):
            connect(node, "/forward", token)
        me = requests.get(node.url + "/api/me", headers=headers, timeout=10)
        assert me.status_code == 401


def test_failed_logins_count_on_every_node(cluster):
    account = cluster.register()
    credentials = {"username": account["username"], "password": "wrong-password"}
    for n in range(5):
        node = cluster.nodes[n % len(cluster.nodes)]
        response = requests.post(node.url + "/api/login", json=credentials, timeout=30)
        assert response.status_code == 401
    for node in cluster.nodes:
        right = {"username": account["username"], "password": PASSWORD}
        response = requests.post(node.url + "/api/login", json=right, timeout=30)
        assert (response.status_code, response.json()["error"]) == (429, "too_many_attempts")

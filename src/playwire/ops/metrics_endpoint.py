"""``GET /metrics``: the Prometheus text format, for the networks that may read it.

Access is decided by the TCP peer's address (``REMOTE_ADDR``), never by a header a client
could write. Behind a proxy every request comes from the proxy, so deploy/nginx.conf does
not pass ``/metrics`` on: Prometheus scrapes each node directly.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Optional

from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from playwire.config import IPNetwork
from playwire.metrics import Metrics

blueprint = Blueprint("metrics", __name__)


def init_app(app: Flask, metrics: Metrics, allowed: Sequence[IPNetwork]) -> None:
    app.extensions["playwire_metrics"] = (metrics, tuple(allowed))
    app.register_blueprint(blueprint)


@blueprint.get("/metrics")
def scrape() -> Response:
    metrics, allowed = current_app.extensions["playwire_metrics"]
    if not is_allowed(request.remote_addr, allowed):
        return Response("Forbidden: /metrics is not served to this address\n", 403,
                        mimetype="text/plain")  # fmt: skip
    return Response(generate_latest(metrics.registry), 200, {"Content-Type": CONTENT_TYPE_LATEST})


def is_allowed(address: Optional[str], allowed: Sequence[IPNetwork]) -> bool:
    """Whether a peer address lies in one of the networks (IPv4-mapped IPv6 counts as IPv4)."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == network.version and ip in network for network in allowed)

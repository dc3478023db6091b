"""Operations (docs/protocol.md, "Operations"): ``/metrics`` and the Socket.IO Admin UI."""

from __future__ import annotations

from flask import Flask

from playwire.ops import admin, metrics_endpoint
from playwire.services import Services


def init_app(app: Flask, services: Services) -> None:
    """Serve ``/metrics`` unless ``--metrics off``; the Admin UI page if it has a password."""
    if services.metrics.enabled:
        metrics_endpoint.init_app(app, services.metrics, services.config.metrics_networks)
    if services.config.admin_password:
        admin.init_app(app)

"""The application factory."""

from __future__ import annotations

from datetime import timedelta
from typing import Optional

from flask import Flask

from playwire.config import Config, load_config, with_secret_key
from playwire.extensions import db
from playwire.origins import OriginPolicy
from playwire.services import build_services


def create_app(config: Optional[Config] = None) -> Flask:
    """Build the Flask app: database, services, HTTP API, web page and Socket.IO server."""
    from playwire import api, ops, socketio, web

    config = with_secret_key(config or load_config())
    config.instance_path.mkdir(parents=True, exist_ok=True)
    app = Flask("playwire", instance_path=str(config.instance_path))
    app.config.update(
        SECRET_KEY=config.secret_key,
        SESSION_COOKIE_NAME="playwire_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=config.token_ttl),
    )
    db.init_app(config.database_url)
    services = build_services(config, db)
    app.extensions["playwire"] = services
    origins = OriginPolicy(config.cors_origins)
    api.init_app(app, origins)
    web.init_app(app)
    socketio.init_app(app, services, origins)
    ops.init_app(app, services)
    return app

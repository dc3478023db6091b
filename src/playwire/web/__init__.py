"""The web page at ``/`` (SPEC §8); a placeholder until the web client lands."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("web", __name__)


@bp.get("/")
def index():
    return "<!doctype html><title>Playwire</title><p>Playwire is running.</p>"


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)

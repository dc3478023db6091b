"""The HTTP JSON API (docs/protocol.md, "HTTP API"): accounts, the session cookie, and the
health check."""

from __future__ import annotations

from typing import Optional

from flask import Blueprint, Flask, current_app, jsonify, request, session
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer
from werkzeug.exceptions import HTTPException

from playwire import errors
from playwire.errors import PlaywireError
from playwire.identity import Member
from playwire.origins import OriginPolicy
from playwire.proxies import TrustedProxies
from playwire.services import Services
from playwire.throttle import TooManyAttempts
from playwire.tokens import TokenError

bp = Blueprint("api", __name__)

# HTTP status of each error code the API answers with.
STATUS = {
    errors.INVALID_JSON: 400,
    errors.INVALID_USERNAME: 400,
    errors.INVALID_PASSWORD: 400,
    errors.INVALID_CREDENTIALS: 401,
    errors.UNAUTHENTICATED: 401,
    errors.NOT_FOUND: 404,
    errors.METHOD_NOT_ALLOWED: 405,
    errors.USERNAME_TAKEN: 409,
    errors.TOO_MANY_ATTEMPTS: 429,
    errors.UNAVAILABLE: 503,
}


def _services() -> Services:
    return current_app.extensions["playwire"]


def _json_object() -> dict:
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise PlaywireError(errors.INVALID_JSON, "the body must be a JSON object")
    return body


def _logged_in(member: Member, status: int):
    """The account as JSON with a fresh token, which the session cookie carries too."""
    token = _services().tokens.issue(member)
    session.clear()
    session["token"] = token
    session.permanent = True
    return jsonify(id=member.id, username=member.username, token=token), status


def _require_accounts() -> None:
    """With ``--accounts off`` the account API does not exist: identity comes from tokens."""
    if _services().config.accounts == "off":
        raise PlaywireError(errors.NOT_FOUND, "accounts are off on this server")


def _bearer_token() -> Optional[str]:
    header = request.headers.get("Authorization", "")
    return header[len("Bearer ") :] if header.startswith("Bearer ") else None


def _current_member() -> Optional[Member]:
    """Who the request is from: ``Authorization: Bearer TOKEN``, else the session cookie."""
    token = _bearer_token() or session.get("token")
    if token is None:
        return None
    try:
        return _services().tokens.verify(token)
    except TokenError:
        return None


def _client_address() -> str:
    return current_app.extensions["playwire.proxies"].client_address(request.environ)


@bp.post("/api/register")
def register():
    """Counted per client address once the password is hashed (created, or name taken)."""
    _require_accounts()
    body = _json_object()
    throttle, address = _services().throttle, _client_address()
    throttle.check_register(address)
    try:
        member = _services().users.register(body.get("username"), body.get("password"))
    except PlaywireError as exc:
        if exc.code == errors.USERNAME_TAKEN:
            throttle.registered(address)
        raise
    throttle.registered(address)
    return _logged_in(member, 201)


@bp.post("/api/login")
def login():
    """Refused while limited, before the password is checked (docs/protocol.md)."""
    _require_accounts()
    body = _json_object()
    username, password = body.get("username"), body.get("password")
    throttle, address = _services().throttle, _client_address()
    throttle.check_login(address, username)
    member = _services().users.authenticate(username, password)
    if member is None:
        throttle.login_failed(address, username)
        raise PlaywireError(errors.INVALID_CREDENTIALS, "wrong username or password")
    throttle.login_succeeded(address, username)
    return _logged_in(member, 200)


@bp.post("/api/logout")
def logout():
    """End the cookie's token and the bearer token, if any, on every node; clear the cookie."""
    tokens = _services().tokens
    for token in {session.get("token"), _bearer_token()} - {None}:
        tokens.revoke(token)
    session.clear()
    return "", 204


@bp.get("/api/me")
def me():
    member = _current_member()
    if member is None:
        raise PlaywireError(errors.UNAUTHENTICATED, "log in first")
    return jsonify(member.to_json())


@bp.get("/healthz")
def healthz():
    """Alive: 200 whenever the process serves HTTP, also while Redis is away."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Ready for players: on a cluster node, 200 once it is subscribed to the message queue
    (what other nodes send reaches its sessions, and it can take a session over from
    another node), 503 before that, while Redis is away, and while the node still answers
    ``unavailable`` after Redis came back (the other nodes may not be subscribed yet). A
    rolling restart stops the next node only once the restarted one is ready; a single
    node is ready at once."""
    queue = current_app.extensions["socketio"].server.manager
    if getattr(queue, "ready", True):
        return jsonify(status="ready")
    if getattr(queue, "subscribed", True):
        return jsonify(status="not ready", reason="message queue coming back"), 503
    return jsonify(status="not ready", reason="message queue not subscribed"), 503


def _error_response(exc: PlaywireError):
    return jsonify(error=exc.code, message=exc.message), STATUS.get(exc.code, 400)


def _too_many_attempts(exc: TooManyAttempts):
    body = jsonify(error=exc.code, message=exc.message, retry_after=exc.retry_after)
    return body, 429, {"Retry-After": str(exc.retry_after)}


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, ``Secure`` as ``--cookie-secure`` says: ``auto`` marks
    the cookie Secure when the request came over HTTPS (directly, or per a trusted proxy's
    ``X-Forwarded-Proto``)."""

    def __init__(self, mode: str, proxies: TrustedProxies) -> None:
        self.mode = mode
        self.proxies = proxies
        self._serializers: dict[tuple, Optional[URLSafeTimedSerializer]] = {}

    def get_signing_serializer(self, app: Flask) -> Optional[URLSafeTimedSerializer]:
        """Flask's serializer, built once per set of keys: Flask builds one for every
        request, a Socket.IO connect included, and building it was a twentieth of the CPU of
        a connect (itsdangerous test-serializes an empty dict each time)."""
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        serializer = self._serializers.get(keys)
        if serializer is None:
            serializer = self._serializers[keys] = super().get_signing_serializer(app)
        return serializer

    def get_cookie_secure(self, app: Flask) -> bool:
        if self.mode != "auto":
            return self.mode == "on"
        return self.proxies.is_https(request.environ)


def _http_error_response(exc: HTTPException):
    """JSON for the API's own 404/405s; the rest of the site keeps Flask's pages."""
    if not request.path.startswith("/api/"):
        return exc
    code = {404: errors.NOT_FOUND, 405: errors.METHOD_NOT_ALLOWED}.get(exc.code or 0)
    if code is None:
        return exc
    return jsonify(error=code, message=exc.description), exc.code


def init_app(app: Flask, origins: OriginPolicy) -> None:
    """Register the API, its session cookie and the CORS headers allowed origins receive."""
    config = app.extensions["playwire"].config
    proxies = TrustedProxies(config.trusted_proxies)
    app.extensions["playwire.proxies"] = proxies
    app.session_interface = SessionCookies(config.cookie_secure, proxies)
    app.register_blueprint(bp)
    app.register_error_handler(TooManyAttempts, _too_many_attempts)
    app.register_error_handler(PlaywireError, _error_response)
    app.register_error_handler(HTTPException, _http_error_response)

    @app.after_request
    def allow_configured_origins(response):
        origin = request.headers.get("Origin")
        if origin and origins.allows(origin, request.environ):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Credentials"] = "true"
            response.headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            response.vary.add("Origin")
        return response

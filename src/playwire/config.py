"""Playwire's configuration: one typed object, filled in four layers.

Later layers win: defaults ← ``<instance dir>/config.json`` ← ``PLAYWIRE_*`` environment
variables ← command-line flags. Every field is documented here; the CLI's ``--help`` and the
README's table are generated from the same metadata, and :meth:`Config.validate` refuses a
bad value at start rather than at the first event that needs it.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Optional, Union

from playwire.redis_client import is_valid_url

IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

ENV_PREFIX = "PLAYWIRE_"
CONFIG_FILE = "config.json"
SECRET_KEY_FILE = "secret_key"


class ConfigError(ValueError):
    """A configuration value that Playwire cannot start with."""


def _csv(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [str(item).strip() for item in value if str(item).strip()]
    return [item.strip() for item in str(value).split(",") if item.strip()]


def _on_off(value: Any) -> str:
    """``on`` or ``off``; config.json may also say true or false."""
    if isinstance(value, bool):
        return "on" if value else "off"
    text = str(value).strip().lower()
    if text not in ("on", "off"):
        raise ValueError(f"expected on or off, got {value!r}")
    return text


def _setting(default: Any, parse: Callable[[Any], Any], help: str) -> Any:
    """A config field whose metadata drives the CLI, the environment and the docs."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"parse": parse, "help": help})
    return field(default=default, metadata={"parse": parse, "help": help})


@dataclass(frozen=True)
class Config:
    """Every setting of a Playwire process."""

    host: str = _setting("127.0.0.1", str, "Interface to listen on.")
    port: int = _setting(5000, int, "TCP port to listen on.")
    instance_dir: str = _setting(
        "./instance",
        str,
        "Folder for state: the SQLite database, the generated secret key, config.json.",
    )
    database: str = _setting(
        "", str, "SQLAlchemy database URL. Default: an SQLite file in the instance dir."
    )
    message_queue: str = _setting(
        "",
        str,
        "redis://HOST:PORT/N, redis+sentinel://HOST:PORT[,...]/N/SERVICE or "
        "redis+cluster://HOST:PORT[,...] makes this process one node of a cluster.",
    )
    secret_key: str = _setting(
        "", str, "Signs tokens and cookies. Default: generated once, kept in the instance dir."
    )
    cors_origins: list[str] = _setting(
        [], _csv, "Comma-separated browser origins allowed besides the server's own, or *."
    )
    token_ttl: int = _setting(86400, int, "Seconds a login token (and session cookie) lives.")
    payload_limit: int = _setting(16384, int, "Largest event data, in bytes of compact JSON.")
    rate_limit: float = _setting(100.0, float, "Events per second a session may send, sustained.")
    rate_burst: int = _setting(200, int, "Events a session may send at once before the limit.")
    history_size: int = _setting(50, int, "Chat messages a session receives on connect.")
    message_max_length: int = _setting(2000, int, "Longest chat message, in characters.")
    max_http_buffer_size: int = _setting(
        1_000_000, int, "Largest Engine.IO message or polling POST, in bytes."
    )
    max_poll_packets: int = _setting(
        1000, int, "Most packets in one long-polling POST (browsers batch bursts)."
    )
    ping_interval: float = _setting(25.0, float, "Seconds between Engine.IO pings.")
    ping_timeout: float = _setting(20.0, float, "Seconds to wait for a pong before closing.")
    presence_ttl: float = _setting(
        30.0, float, "Cluster: seconds after which a dead node's sessions leave presence."
    )
    unsubscribe_delay: float = _setting(
        5.0,
        float,
        "Cluster: seconds a node stays subscribed to a room's channel after its last session "
        "there left.",
    )
    presence_limit: int = _setting(
        1000, int, "Users in a namespace above which presence is a count, not a list."
    )
    presence_count_interval: float = _setting(
        5.0, float, "Seconds between two presence_count events of a limited namespace."
    )
    max_rooms_per_session: int = _setting(32, int, "Rooms one session may be in at once.")
    max_room_users: int = _setting(1000, int, "Users one room may hold.")
    log_level: str = _setting("info", str, "debug, info, warning or error.")
    metrics: str = _setting("on", str, "on: serve Prometheus metrics at /metrics; off: 404.")
    metrics_allow: list[str] = _setting(
        ["127.0.0.0/8", "::1/128"],
        _csv,
        "Comma-separated networks (CIDR) whose clients may read /metrics; others get 403.",
    )
    admin_password: str = _setting(
        "", str, "Turns on the Socket.IO Admin UI (/admin, user admin) and its page /admin/ui/."
    )
    accounts: str = _setting(
        "on", _on_off, "off: /api/register and /api/login answer 404; only tokens identify users."
    )
    jwt_secret: str = _setting(
        "", str, "HS256 secret (32+ bytes) of the game's backend, whose JWTs then authenticate."
    )
    jwt_public_key: str = _setting(
        "", str, "PEM file of the backend's public key: RSA (RS256) or EC P-256 (ES256)."
    )
    jwks_url: str = _setting("", str, "http(s) URL of the backend's JWKS (RS256/ES256 keys).")
    jwks_cooldown: float = _setting(
        60.0, float, "Fewest seconds between two JWKS fetches, however many unknown kids arrive."
    )
    jwt_audience: str = _setting("", str, "When set, a JWT's aud must include it.")
    jwt_issuer: str = _setting("", str, "When set, a JWT's iss must equal it.")
    jwt_min_id: int = _setting(
        0, int, "Smallest user id (sub) a JWT may name; 0: no check. Keeps ids apart from ours."
    )
    login_user_limit: str = _setting(
        "5 per 15 minutes",
        str,
        "Failed logins allowed for one username from one client address, or off.",
    )
    login_address_limit: str = _setting(
        "30 per minute", str, "Failed logins allowed from one client address, or off."
    )
    register_limit: str = _setting(
        "10 per hour", str, "Registrations allowed from one client address, or off."
    )
    trusted_proxies: list[str] = _setting(
        [],
        _csv,
        "Comma-separated proxy addresses or CIDRs whose X-Forwarded-For/-Proto are believed.",
    )
    cookie_secure: str = _setting(
        "auto", str, "Session cookie Secure flag: on, off, or auto (when the request was HTTPS)."
    )
    max_outbox: int = _setting(
        1_048_576, int, "Bytes waiting for one session beyond which it is disconnected."
    )
    recovery_window: float = _setting(
        30.0,
        float,
        "Seconds a dropped session is held for the client to recover it (state recovery); 0: off.",
    )
    recovery_max_events: int = _setting(
        1000, int, "Events kept for one session to replay; a held session past it is ended."
    )
    shutdown_grace: float = _setting(
        3.0,
        float,
        "Cluster: seconds a node stopped by SIGTERM waits for its clients to recover their "
        "sessions on other nodes before it hands the rest over.",
    )

    @property
    def instance_path(self) -> Path:
        return Path(self.instance_dir).resolve()

    @property
    def database_url(self) -> str:
        return self.database or f"sqlite:///{self.instance_path / 'playwire.sqlite3'}"

    @property
    def metrics_networks(self) -> list[IPNetwork]:
        """``metrics_allow`` parsed (validated at start, so never None here)."""
        return _networks(self.metrics_allow) or []

    def validate(self) -> Config:
        """Return self, or raise ConfigError naming the first bad field."""
        checks = {
            "port": 0 <= self.port <= 65535,
            "token_ttl": self.token_ttl > 0,
            "payload_limit": self.payload_limit > 0,
            "rate_limit": self.rate_limit > 0,
            "rate_burst": self.rate_burst >= 1,
            "history_size": self.history_size >= 0,
            "message_max_length": self.message_max_length > 0,
            "max_http_buffer_size": self.max_http_buffer_size >= self.payload_limit,
            "max_poll_packets": self.max_poll_packets >= 1,
            "ping_interval": self.ping_interval > 0,
            "ping_timeout": self.ping_timeout > 0,
            "presence_ttl": self.presence_ttl > 0,
            "unsubscribe_delay": self.unsubscribe_delay >= 0,
            "presence_limit": self.presence_limit >= 1,
            "presence_count_interval": self.presence_count_interval > 0,
            "max_rooms_per_session": self.max_rooms_per_session >= 1,
            "max_room_users": self.max_room_users >= 1,
            "log_level": self.log_level.lower() in ("debug", "info", "warning", "error"),
            "metrics": self.metrics in ("on", "off"),
            "metrics_allow": _networks(self.metrics_allow) is not None,
            "message_queue": not self.message_queue or is_valid_url(self.message_queue),
            "jwt_secret": not self.jwt_secret or len(self.jwt_secret.encode()) >= 32,
            "jwks_url": not self.jwks_url or self.jwks_url.startswith(("http://", "https://")),
            "jwks_cooldown": self.jwks_cooldown >= 1,
            "jwt_min_id": 0 <= self.jwt_min_id < 2**31,
            "login_user_limit": _is_limit(self.login_user_limit),
            "login_address_limit": _is_limit(self.login_address_limit),
            "register_limit": _is_limit(self.register_limit),
            "trusted_proxies": _networks(self.trusted_proxies) is not None,
            "cookie_secure": self.cookie_secure in ("auto", "on", "off"),
            "max_outbox": self.max_outbox >= self.payload_limit,
            "recovery_window": self.recovery_window >= 0,
            "recovery_max_events": self.recovery_max_events >= 1,
            "shutdown_grace": self.shutdown_grace >= 0,
        }
        for name, ok in checks.items():
            if not ok:
                shown = "(hidden; it needs 32 bytes or more)" if name == "jwt_secret" else None
                raise ConfigError(f"invalid {name}: {shown or repr(getattr(self, name))}")
        if self.jwt_public_key:
            self._check_public_key()
        return self

    def _check_public_key(self) -> None:
        """Read the PEM file now, so a wrong path or key stops the start, not a connection."""
        from playwire.jwt_identity import load_public_key

        try:
            load_public_key(self.jwt_public_key)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"invalid jwt_public_key: {self.jwt_public_key!r}: {exc}") from exc


def _networks(values: list[str]) -> Optional[list[IPNetwork]]:
    """The networks named by ``values``, or None if one of them is not a network."""
    try:
        return [ipaddress.ip_network(value, strict=False) for value in values]
    except ValueError:
        return None


LIMIT_OFF = "off"


def _is_limit(value: str) -> bool:
    """Whether ``value`` is ``off`` or a rate in the notation of ``limits`` ("5 per minute")."""
    if value == LIMIT_OFF:
        return True
    from limits import parse  # only when validating: the CLI imports this module early

    try:
        parse(value)
    except ValueError:
        return False
    return True


def settings() -> list[tuple[str, Any, str]]:
    """(name, default, help) of every field, in declaration order."""
    defaults = Config()
    return [(f.name, getattr(defaults, f.name), f.metadata["help"]) for f in fields(Config)]


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def _parse(values: Mapping[str, Any], source: str) -> dict[str, Any]:
    parsers = {f.name: f.metadata["parse"] for f in fields(Config)}
    parsed = {}
    for name, value in values.items():
        if name not in parsers:
            raise ConfigError(f"unknown setting {name!r} in {source}")
        try:
            parsed[name] = parsers[name](value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"invalid {name} in {source}: {value!r}") from exc
    return parsed


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    names = [f.name for f in fields(Config)]
    found = {name: environ[env_name(name)] for name in names if env_name(name) in environ}
    return _parse(found, "the environment")


def _from_instance_file(instance_dir: str) -> dict[str, Any]:
    path = Path(instance_dir) / CONFIG_FILE
    if not path.is_file():
        return {}
    try:
        values = json.loads(path.read_text())
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(values, dict):
        raise ConfigError(f"{path} must hold a JSON object")
    return _parse(values, str(path))


def load_config(
    flags: Optional[Mapping[str, Any]] = None, environ: Optional[Mapping[str, str]] = None
) -> Config:
    """Build the validated config from the instance file, the environment and flags."""
    flags = _parse({k: v for k, v in (flags or {}).items() if v is not None}, "the flags")
    env = _from_env(os.environ if environ is None else environ)
    instance_dir = flags.get("instance_dir", env.get("instance_dir", Config.instance_dir))
    layered = {**_from_instance_file(instance_dir), **env, **flags}
    return Config(**layered).validate()


def with_secret_key(config: Config) -> Config:
    """The config with a secret key: the configured one, else one kept in the instance dir.

    The generated key is written once (mode 0600) so that a restart keeps tokens and cookies
    valid.
    """
    if config.secret_key:
        return config
    path = config.instance_path / SECRET_KEY_FILE
    if not path.exists():
        config.instance_path.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return replace(config, secret_key=path.read_text().strip())

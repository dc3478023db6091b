"""Login and registration throttling (docs/protocol.md, *Limits and abuse*).

Counts live in a storage of the ``limits`` library (the one under Flask-Limiter): in memory
on one node, in the cluster's Redis otherwise, so every node sees the same counts. Windows
are moving: "5 per 15 minutes" means at most 5 counted attempts in any 15 minutes.

Only failed logins count toward the two login limits, so a player who types the right
password uses none of them up, and a correct login clears the per-username count of that
address. While a limit is reached every login it covers is refused, with the right password
too: checking the password first would let the guessing go on.
"""

from __future__ import annotations

import math
import time
from typing import Optional

from limits import RateLimitItem, parse
from limits.storage import (
    MemoryStorage,
    RedisClusterStorage,
    RedisSentinelStorage,
    RedisStorage,
    Storage,
)
from limits.strategies import MovingWindowRateLimiter
from redis.backoff import NoBackoff
from redis.retry import Retry
from socketio.redis_manager import parse_redis_sentinel_url

from playwire.config import LIMIT_OFF, Config
from playwire.errors import TOO_MANY_ATTEMPTS, PlaywireError, ServiceUnavailable
from playwire.redis_client import (
    CLUSTER_SCHEME,
    CONNECT_TIMEOUT,
    REDIS_ERRORS,
    SENTINEL_SCHEME,
    cluster_nodes,
    scheme,
)

# Longer usernames are not accounts (3-32 characters), but still count: cut, not skipped.
USERNAME_KEY_LENGTH = 64


class TooManyAttempts(PlaywireError):
    """A limit is reached: ``429 {"error": "too_many_attempts", "retry_after"}``."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(TOO_MANY_ATTEMPTS, f"too many attempts; retry in {retry_after} s")
        self.retry_after = retry_after


def _rule(value: str) -> Optional[RateLimitItem]:
    return None if value == LIMIT_OFF else parse(value)


class Throttle:
    """The three limits of one process, counted in ``storage`` (shared by a cluster)."""

    def __init__(self, storage: Storage, login_user: str, login_address: str, register: str):
        self.storage = storage
        self.window = MovingWindowRateLimiter(storage)
        self.login_user = _rule(login_user)
        self.login_address = _rule(login_address)
        self.register = _rule(register)

    def check_login(self, address: str, username: object) -> None:
        """Raise TooManyAttempts while this address, or this username from it, is limited."""
        rules = [(self.login_address, ("login", address))]
        name = _username_key(username)
        if name is not None:
            rules.append((self.login_user, ("login", address, name)))
        self._check(*rules)

    def login_failed(self, address: str, username: object) -> None:
        self._hit(self.login_address, "login", address)
        name = _username_key(username)
        if name is not None:
            self._hit(self.login_user, "login", address, name)

    def login_succeeded(self, address: str, username: object) -> None:
        """A correct password: the mistakes before it no longer count against the name."""
        name = _username_key(username)
        if self.login_user is not None and name is not None:
            self._guard(self.window.clear, self.login_user, "login", address, name)

    def check_register(self, address: str) -> None:
        self._check((self.register, ("register", address)))

    def registered(self, address: str) -> None:
        """An attempt that reached password hashing (created, or the name was taken)."""
        self._hit(self.register, "register", address)

    def _check(self, *rules: tuple[Optional[RateLimitItem], tuple[str, ...]]) -> None:
        waits = [
            self._retry_after(rule, ids)
            for rule, ids in rules
            if rule is not None and not self._guard(self.window.test, rule, *ids)
        ]
        if waits:
            raise TooManyAttempts(max(waits))

    def _retry_after(self, rule: RateLimitItem, ids: tuple[str, ...]) -> int:
        """Whole seconds until the oldest counted attempt leaves the window (at least 1)."""
        stats = self._guard(self.window.get_window_stats, rule, *ids)
        return max(1, math.ceil(stats.reset_time - time.time()))

    def _hit(self, rule: Optional[RateLimitItem], *ids: str) -> None:
        if rule is not None:
            self._guard(self.window.hit, rule, *ids)

    @staticmethod
    def _guard(function, *args):
        """Call the storage; a cluster's Redis that is away makes it ``unavailable``."""
        try:
            return function(*args)
        except (*REDIS_ERRORS, OSError) as exc:
            raise ServiceUnavailable() from exc


def _username_key(username: object) -> Optional[str]:
    """The per-username identifier, case-folded as logins are; None for a non-string."""
    if not isinstance(username, str):
        return None
    return username.lower()[:USERNAME_KEY_LENGTH]


def build_throttle(config: Config) -> Throttle:
    """Counts in this process for one node, in the cluster's Redis for a cluster node."""
    if config.message_queue:
        storage: Storage = redis_storage(config.message_queue)
    else:
        storage = MemoryStorage()
    return Throttle(
        storage, config.login_user_limit, config.login_address_limit, config.register_limit
    )


def redis_storage(url: str) -> Storage:
    """The ``limits`` storage of the ``--message-queue`` topology, failing fast (as the
    presence store does) when Redis is away."""
    options = {"socket_connect_timeout": CONNECT_TIMEOUT, "socket_timeout": 5}
    if scheme(url) == SENTINEL_SCHEME:
        # limits reads the service as the URL's whole path (python-socketio's /DB/SERVICE
        # would be "DBSERVICE"), so the database goes in as an option. Counts are read on
        # the master only: a replica may lag behind the latest failed login.
        sentinels, service, url_options = parse_redis_sentinel_url(url)
        hosts = ",".join(f"{host}:{port}" for host, port in sentinels)
        return RedisSentinelStorage(
            f"{SENTINEL_SCHEME}://{hosts}/{service}",
            use_replicas=False,
            sentinel_kwargs=dict(options),
            **options,
            **url_options,
        )
    if scheme(url) == CLUSTER_SCHEME:
        hosts = ",".join(f"{host}:{port}" for host, port in cluster_nodes(url))
        return RedisClusterStorage(
            f"{CLUSTER_SCHEME}://{hosts}", retry=Retry(NoBackoff(), 1), **options
        )
    return RedisStorage(url, **options)

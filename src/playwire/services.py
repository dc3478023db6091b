"""The domain services of one process, built once from the config and shared by both layers."""

from __future__ import annotations

from dataclasses import dataclass

from playwire.chat import ChatStore
from playwire.config import Config
from playwire.database import Database
from playwire.jwt_identity import build_jwt_verifier
from playwire.metrics import Metrics
from playwire.presence import Limits, PresenceStore
from playwire.presence.memory import MemoryPresence
from playwire.revocation import RevocationStore
from playwire.revocation.memory import MemoryRevocations
from playwire.throttle import Throttle, build_throttle
from playwire.tokens import TokenSigner
from playwire.users import UserService

#: Rooms whose recent chat history a single node keeps in memory (the most recently read).
CACHED_ROOMS = 256


@dataclass
class Services:
    config: Config
    users: UserService
    tokens: TokenSigner
    chat: ChatStore
    presence: PresenceStore
    metrics: Metrics
    throttle: Throttle


def build_services(config: Config, db: Database) -> Services:
    """Services over an initialised database; presence in memory for a single node."""
    presence = build_presence(config)
    metrics = Metrics(enabled=config.metrics == "on")
    metrics.presence = presence
    return Services(
        config=config,
        users=UserService(db),
        tokens=TokenSigner(
            config.secret_key,
            config.token_ttl,
            jwt=build_jwt_verifier(config),
            revocations=build_revocations(config),
        ),
        # A single node is its database's only writer: it may keep recent history in memory.
        chat=ChatStore(db, config.history_size, 0 if config.message_queue else CACHED_ROOMS),
        presence=presence,
        metrics=metrics,
        throttle=build_throttle(config),
    )


def build_presence(config: Config) -> PresenceStore:
    """The presence store: in memory for one node, in Redis for a cluster."""
    limits = Limits(config.presence_limit, config.max_rooms_per_session, config.max_room_users)
    if config.message_queue:
        from playwire.presence.redis import RedisPresence

        return RedisPresence(config.message_queue, config.presence_ttl, limits)
    return MemoryPresence(limits)


def build_revocations(config: Config) -> RevocationStore:
    """Revoked tokens: in memory for one node, in Redis for a cluster (a logout counts on
    every node)."""
    if config.message_queue:
        from playwire.revocation.redis import RedisRevocations

        return RedisRevocations(config.message_queue)
    return MemoryRevocations()

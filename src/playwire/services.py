"""The domain services of one process, built once from the config and shared by both layers."""

from __future__ import annotations

from dataclasses import dataclass

from playwire.chat import ChatStore
from playwire.config import Config
from playwire.database import Database
from playwire.jwt_identity import build_jwt_verifier
from playwire.metrics import Metrics
from playwire.presence import PresenceStore
from playwire.presence.memory import MemoryPresence
from playwire.tokens import TokenSigner
from playwire.users import UserService


@dataclass
class Services:
    config: Config
    users: UserService
    tokens: TokenSigner
    chat: ChatStore
    presence: PresenceStore
    metrics: Metrics


def build_services(config: Config, db: Database) -> Services:
    """Services over an initialised database; presence in memory for a single node."""
    presence = build_presence(config)
    metrics = Metrics(enabled=config.metrics == "on")
    metrics.presence = presence
    return Services(
        config=config,
        users=UserService(db),
        tokens=TokenSigner(config.secret_key, config.token_ttl, jwt=build_jwt_verifier(config)),
        chat=ChatStore(db, config.history_size),
        presence=presence,
        metrics=metrics,
    )


def build_presence(config: Config) -> PresenceStore:
    """The presence store: in memory for one node, in Redis for a cluster."""
    if config.message_queue:
        from playwire.presence.redis import RedisPresence

        return RedisPresence(config.message_queue, config.presence_ttl)
    return MemoryPresence()

"""Connections to Redis, shared by the message queue and the presence store of a cluster."""

from __future__ import annotations

from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


def connect(url: str, **options: Any) -> redis.Redis:
    """A client that fails fast when Redis is away and reconnects by itself once it is back.

    One immediate retry replaces a pooled connection that Redis closed while restarting.
    """
    defaults = {"socket_connect_timeout": 2, "retry": Retry(NoBackoff(), 1)}
    return redis.Redis.from_url(url, **{"decode_responses": True, **defaults, **options})

"""Run CPU-heavy calls off the event loop.

Under gevent every session shares one OS thread; an argon2 hash takes tens of milliseconds,
long enough to stall every game in the process. Such calls go to gevent's thread pool
(argon2's C code releases the GIL), or run inline where gevent is not patched in (tests).
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

T = TypeVar("T")


def under_gevent() -> bool:
    """Whether gevent has patched the standard library (``playwire serve`` does; a test
    process does not): greenlets, not threads, then share this process."""
    try:
        from gevent import monkey
    except ImportError:
        return False
    return monkey.is_module_patched("socket")


def run_blocking(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)``, on a worker thread when running under gevent."""
    if not under_gevent():
        return function(*args)
    from gevent import get_hub

    return get_hub().threadpool.apply(function, args)

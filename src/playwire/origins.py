"""Which browser origins may talk to this server: its own, plus those configured
(docs/protocol.md, "Connecting with Socket.IO").

One policy serves both the Socket.IO handshake and the HTTP API's CORS headers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Optional


class OriginPolicy:
    """Same-origin always; ``extra`` origins as configured; ``*`` allows every origin."""

    def __init__(self, extra: Iterable[str]) -> None:
        self.extra = frozenset(origin.rstrip("/") for origin in extra)
        self.any = "*" in self.extra

    def allows(self, origin: Optional[str], environ: Mapping[str, str]) -> bool:
        """Whether a request with this ``Origin`` header may proceed (none: not a browser)."""
        if origin is None or self.any or origin in self.extra:
            return True
        return origin in _own_origins(environ)


def _own_origins(environ: Mapping[str, str]) -> set[str]:
    """The origins this request was addressed to, directly or through a proxy."""
    host = environ.get("HTTP_HOST")
    if not host:
        return set()
    scheme = environ.get("wsgi.url_scheme", "http")
    own = {f"{scheme}://{host}"}
    forwarded_proto = environ.get("HTTP_X_FORWARDED_PROTO", scheme).split(",")[0].strip()
    forwarded_host = environ.get("HTTP_X_FORWARDED_HOST", host).split(",")[0].strip()
    own.add(f"{forwarded_proto}://{forwarded_host}")
    return own

"""The signing keys published at a JWKS URL, fetched with PyJWT's PyJWKClient and cached.

The kid of a token is chosen by whoever sends it, so an unknown kid must not cost a request
to the game's backend each time: the keys are fetched at most once per ``cooldown`` seconds,
counted from the last attempt whether it worked or not (a JWKS endpoint that is down is not
hammered either). A failed fetch keeps the keys known so far and is only logged.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Optional

from jwt import PyJWK, PyJWKClient, PyJWTError

log = logging.getLogger(__name__)

#: Algorithms a JWKS key may verify: asymmetric only, so no JWK can act as an HMAC secret.
JWKS_ALGORITHMS = ("RS256", "ES256")
#: Seconds to wait for the JWKS endpoint; the greenlet waits, the event loop does not.
FETCH_TIMEOUT = 5.0
#: Seconds after which known keys are fetched again, so a key the backend dropped stops working.
MAX_AGE = 300.0


class JwksKeys:
    """Keys by kid, refreshed on an unknown kid or after MAX_AGE, never twice per cooldown."""

    def __init__(
        self, url: str, cooldown: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.url = url
        self.cooldown = cooldown
        self._clock = clock
        # Our own cache, not PyJWKClient's: its cooldown counts only successful fetches.
        self._client = PyJWKClient(url, cache_jwk_set=False, timeout=FETCH_TIMEOUT)
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: Optional[float] = None
        self._tried_at: Optional[float] = None
        self._lock = threading.Lock()

    def get(self, kid: str) -> Optional[PyJWK]:
        """The key named ``kid``, fetching the set first if allowed and needed; else None."""
        key = self._keys.get(kid)
        if key is not None and not self._stale():
            return key
        # Concurrent connections wait for the one fetch in flight instead of starting theirs.
        with self._lock:
            if self._may_fetch():
                self._fetch()
        return self._keys.get(kid)

    def _stale(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at > MAX_AGE

    def _may_fetch(self) -> bool:
        return self._tried_at is None or self._clock() - self._tried_at >= self.cooldown

    def _fetch(self) -> None:
        self._tried_at = self._clock()
        try:
            jwk_set = self._client.get_jwk_set()
        # OSError and ValueError: a read timeout on Python 3.9, a body that is not JSON.
        except (PyJWTError, OSError, ValueError) as exc:
            log.warning("JWKS %s not fetched (keeping %d keys): %s", self.url, len(self._keys), exc)
            return
        self._keys = {
            key.key_id: key
            for key in jwk_set.keys
            if key.key_id
            and key.public_key_use in ("sig", None)
            and key.algorithm_name in JWKS_ALGORITHMS
        }
        self._fetched_at = self._clock()

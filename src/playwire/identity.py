"""Who a user is, as every other module names them: :class:`Member`."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property


@dataclass(frozen=True)
class Member:
    """A user as tokens carry them and presence events show them: ``{"id", "username"}``."""

    id: int
    username: str

    def to_json(self) -> dict:
        """The same dict every time, never to be changed: below the presence limit each
        connect lists every member, and building the dicts anew was a twentieth of its CPU."""
        return self._json

    @cached_property
    def _json(self) -> dict:
        return {"id": self.id, "username": self.username}

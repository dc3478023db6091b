"""Who a user is, as every other module names them: :class:`Member`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Member:
    """A user as tokens carry them and presence events show them: ``{"id", "username"}``."""

    id: int
    username: str

    def to_json(self) -> dict:
        return {"id": self.id, "username": self.username}

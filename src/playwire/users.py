"""Accounts: registration and password checks, with argon2 hashes."""

from __future__ import annotations

import re
import secrets
from typing import Optional

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from playwire.blocking import run_blocking
from playwire.clock import now_ms
from playwire.database import Database
from playwire.errors import (
    INVALID_PASSWORD,
    INVALID_USERNAME,
    USERNAME_TAKEN,
    PlaywireError,
)
from playwire.identity import Member
from playwire.models import User

USERNAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{3,32}")
PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 1024


def check_username(username: object) -> str:
    """The username if it is 3 to 32 of ``A-Z a-z 0-9 _ -``, else PlaywireError."""
    if not isinstance(username, str) or not USERNAME_PATTERN.fullmatch(username):
        raise PlaywireError(INVALID_USERNAME, "username must be 3-32 of A-Z a-z 0-9 _ -")
    return username


def check_password(password: object) -> str:
    """The password if it has 8 to 1024 characters, else PlaywireError."""
    if not isinstance(password, str) or not (
        PASSWORD_MIN_LENGTH <= len(password) <= PASSWORD_MAX_LENGTH
    ):
        raise PlaywireError(INVALID_PASSWORD, "password must have 8 to 1024 characters")
    return password


class UserService:
    """Creates accounts and checks credentials against the database."""

    def __init__(self, db: Database, hasher: Optional[PasswordHasher] = None) -> None:
        self.db = db
        self.hasher = hasher or PasswordHasher()
        # What an unknown username's password is checked against, so that such a login
        # costs one argon2 verification, as a wrong password does: no telling by the time
        # taken which usernames exist.
        self._dummy_hash = self.hasher.hash(secrets.token_hex(16))

    def register(self, username: object, password: object) -> Member:
        """Create an account; PlaywireError for a bad username/password or a taken name."""
        username = check_username(username)
        password_hash = run_blocking(self.hasher.hash, check_password(password))
        user = User(
            username=username,
            username_key=username.lower(),
            password_hash=password_hash,
            created_at=now_ms(),
        )
        try:
            with self.db.session() as session:
                session.add(user)
                session.flush()
                return Member(id=user.id, username=user.username)
        except IntegrityError as exc:
            raise PlaywireError(USERNAME_TAKEN, "that username is taken") from exc

    def authenticate(self, username: object, password: object) -> Optional[Member]:
        """The member whose credentials these are, or None.

        An unknown username costs the same argon2 verification as a wrong password.
        """
        if not isinstance(username, str) or not isinstance(password, str):
            return None
        with self.db.session() as session:
            user = session.scalar(select(User).where(User.username_key == username.lower()))
        password_hash = self._dummy_hash if user is None else user.password_hash
        if not run_blocking(self._password_matches, password_hash, password) or user is None:
            return None
        return Member(id=user.id, username=user.username)

    def find(self, user_id: int) -> Optional[Member]:
        """The member with this account id, or None."""
        with self.db.session() as session:
            user = session.get(User, user_id)
        return None if user is None else Member(id=user.id, username=user.username)

    def _password_matches(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

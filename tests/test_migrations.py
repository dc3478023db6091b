"""Schema migrations (README, "Operating Playwire"): nodes that start at once on an empty
database all come up, and a database made before migrations is upgraded with its rows."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
import requests
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from argon2 import PasswordHasher
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from helpers.clients import EventClient
from helpers.server import PASSWORD, ServerProcess, run_playwire, unique_name
from playwire.chat import ChatStore
from playwire.database import Database
from playwire.identity import Member
from playwire.migrations import alembic_config, upgrade
from playwire.models import Base

HEAD = "0003"
UPGRADED_BY_THIS_NODE = "database schema upgraded from empty to " + HEAD

# What ``Base.metadata.create_all`` made before migrations existed (``{serial}``: the id type).
CREATE_ALL_SCHEMA = [
    """CREATE TABLE users (
        id {serial} NOT NULL,
        username VARCHAR(32) NOT NULL,
        username_key VARCHAR(32) NOT NULL,
        password_hash VARCHAR(255) NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (id),
        UNIQUE (username_key))""",
    """CREATE TABLE chat_messages (
        id {serial} NOT NULL,
        user_id INTEGER NOT NULL,
        username VARCHAR(32) NOT NULL,
        message TEXT NOT NULL,
        timestamp BIGINT NOT NULL,
        PRIMARY KEY (id),
        FOREIGN KEY(user_id) REFERENCES users (id))""",
]
INSERT_MESSAGE = text(
    "INSERT INTO chat_messages (user_id, username, message, timestamp) VALUES (:uid, 'x', :m, 1)"
)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """An empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'playwire.sqlite3'}"
    return request.getfixturevalue("postgres").new_database()


@contextmanager
def opened(url: str) -> Iterator[Database]:
    db = Database().connect(url)
    try:
        yield db
    finally:
        db.close()


def make_with_create_all(url: str) -> None:
    """The old schema, with an account (password PASSWORD) and one message of it."""
    serial = "SERIAL" if url.startswith("postgresql") else "INTEGER"
    with opened(url) as db, db.engine.begin() as connection:
        for statement in CREATE_ALL_SCHEMA:
            connection.execute(text(statement.format(serial=serial)))
        connection.execute(
            text(
                "INSERT INTO users (username, username_key, password_hash, created_at) "
                "VALUES ('Veteran', 'veteran', :hash, 1)"
            ),
            {"hash": PasswordHasher().hash(PASSWORD)},
        )
        connection.execute(INSERT_MESSAGE, {"uid": 1, "m": "from before"})


def message_without_account_is_refused(url: str) -> bool:
    with opened(url) as db:
        try:
            with db.engine.begin() as connection:
                connection.execute(INSERT_MESSAGE, {"uid": 424242, "m": "orphan"})
        except IntegrityError:
            return True
    return False


def rows(url: str) -> tuple[list, list, list]:
    with opened(url) as db, db.engine.connect() as connection:
        return (
            connection.execute(text("SELECT id, username FROM users")).all(),
            connection.execute(text("SELECT user_id, message FROM chat_messages")).all(),
            connection.execute(text("SELECT version_num FROM alembic_version")).all(),
        )


def test_db_upgrade_keeps_the_rows_of_a_database_made_by_create_all(database_url, tmp_path):
    make_with_create_all(database_url)
    assert message_without_account_is_refused(database_url)  # the old foreign key holds

    upgraded = run_playwire(
        "db", "upgrade", "--database", database_url, "--instance-dir", str(tmp_path)
    )
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"0001 -> {HEAD}" in upgraded.stdout
    users, messages, version = rows(database_url)
    assert (users, messages, version) == ([(1, "Veteran")], [(1, "from before")], [(HEAD,)])
    assert not message_without_account_is_refused(database_url)

    again = run_playwire(
        "db", "upgrade", "--database", database_url, "--instance-dir", str(tmp_path)
    )
    assert again.returncode == 0 and f"already at revision {HEAD}" in again.stdout


def test_a_server_on_an_upgraded_database_serves_its_accounts_and_history(
    database_url, start_server
):
    make_with_create_all(database_url)
    server = start_server("--database", database_url)  # serve upgrades it
    login = requests.post(
        server.url + "/api/login", json={"username": "veteran", "password": PASSWORD}, timeout=10
    )
    assert login.status_code == 200, login.text
    chat = EventClient(server.url, "/chat", "websocket").connect({"token": login.json()["token"]})
    try:
        chat.expect("presence")
        assert [m["message"] for m in chat.expect("history")["messages"]] == ["from before"]
        assert server.register()["id"] == 2  # the ids go on from the old rows
    finally:
        chat.close()
    assert rows(database_url)[2] == [(HEAD,)]


# Three interpreters starting at once on a loaded two-core machine took 27 s to come up.
@pytest.mark.timeout(300)
def test_three_nodes_started_at_once_on_an_empty_postgresql_all_come_up(postgres, tmp_path):
    url = postgres.new_database()
    nodes = [
        ServerProcess(tmp_path / f"node{n}", "--database", url, "--secret-key", "shared")
        for n in range(3)
    ]
    try:
        with ThreadPoolExecutor(len(nodes)) as pool:
            list(pool.map(lambda node: node.start(timeout=120), nodes))
        for node in nodes:
            assert requests.get(node.url + "/healthz", timeout=10).status_code == 200
        account = nodes[0].register()
        for node in nodes[1:]:
            login = requests.post(
                node.url + "/api/login",
                json={"username": account["username"], "password": PASSWORD},
                timeout=10,
            )
            assert login.status_code == 200, login.text
        # One node migrated; the others waited for its lock and found nothing to do.
        assert [UPGRADED_BY_THIS_NODE in node.log() for node in nodes].count(True) == 1
    finally:
        for node in nodes:
            node.stop()


def test_db_upgrade_from_several_processes_at_once_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'playwire.sqlite3'}"
    args = ["db", "upgrade", "--database", url, "--instance-dir", str(tmp_path)]
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _: run_playwire(*args, timeout=120), range(3)))
    assert [r.returncode for r in results] == [0, 0, 0], [r.stderr for r in results]
    assert [f"empty -> {HEAD}" in r.stdout for r in results].count(True) == 1
    assert rows(url)[2] == [(HEAD,)]


def test_a_message_from_a_user_without_an_account_is_stored(database_url):
    """A user of the game's own backend (a JWT) has no users row, and an id of 64 bits."""
    with opened(database_url) as db:
        upgrade(db.engine)
        chat = ChatStore(db, history_size=10)
        stored = chat.post(Member(id=2**40, username="from_the_game"), "hello")
        assert chat.history() == [stored]
        assert stored["user_id"] == 2**40 and stored["username"] == "from_the_game"


def test_the_migrations_make_the_schema_of_the_models(database_url):
    """A change to playwire.models without its migration (or the reverse) fails here."""
    with opened(database_url) as db:
        upgrade(db.engine)
        with db.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_downgrade_restores_the_foreign_key(database_url):
    with opened(database_url) as db:
        upgrade(db.engine)
        with db.engine.begin() as connection:
            command.downgrade(alembic_config(connection), "0001")
    assert message_without_account_is_refused(database_url)
    with opened(database_url) as db:
        assert upgrade(db.engine) == ("0001", HEAD)
    assert not message_without_account_is_refused(database_url)


def test_a_database_from_a_newer_playwire_is_refused_clearly(tmp_path, start_server):
    url = f"sqlite:///{tmp_path / unique_name()}.sqlite3"
    with opened(url) as db:
        upgrade(db.engine)
        with db.engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    result = run_playwire("db", "upgrade", "--database", url, "--instance-dir", str(tmp_path))
    assert result.returncode == 1
    assert "cannot upgrade the database schema" in result.stderr and "9999" in result.stderr
    with pytest.raises(RuntimeError, match="cannot upgrade the database schema"):
        start_server("--database", url)

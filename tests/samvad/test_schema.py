"""The schema version gate: ``/readyz`` and ``samvad db wait`` hold a process back until the
database is at this release's migrations (samvad/schema.py), on PostgreSQL and SQLite."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from core_api.db import Database
from samvad.cli import app as cli_app
from samvad.schema import OK, code_revisions, schema_state

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def seeded() -> bool:
    return False


async def _set_version(database: Database, version: str | None) -> None:
    async with database.engine.begin() as conn:
        if version is None:
            await conn.execute(text("DELETE FROM alembic_version"))
        else:
            await conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": version})


async def _set_version_at(url: str, version: str) -> None:
    database = Database(url)
    try:
        await _set_version(database, version)
    finally:
        await database.dispose()


async def _state(database: Database) -> str:
    async with database.engine.connect() as conn:
        return await schema_state(conn)


def _previous_revision() -> str:
    head, known = code_revisions()
    return sorted(known - {head})[-1]


async def test_at_head_is_ok(database: Database) -> None:
    assert await _state(database) == OK


async def test_behind_is_not_ok_and_says_what_this_release_needs(database: Database) -> None:
    previous = _previous_revision()
    await _set_version(database, previous)
    assert await _state(database) == (
        f"schema at {previous}, this release needs {code_revisions()[0]}")


async def test_not_migrated_at_all(database: Database) -> None:
    await _set_version(database, None)
    assert (await _state(database)).startswith("schema not migrated")


async def test_a_newer_release_already_migrated_is_ok(database: Database) -> None:
    """An old pod during a rolling update: the next release's revision is unknown here."""
    await _set_version(database, "9999_from_the_next_release")
    assert await _state(database) == OK


async def test_readyz_is_not_ready_while_the_schema_is_behind(client: Any, app: Any) -> None:
    await _set_version(app.state.db, _previous_revision())
    body = (await client.get("/readyz?optional=workers,rasa")).json()
    assert body["status"] == "not_ready" and body["down"] == ["database"]
    assert "this release needs" in body["checks"]["database"]
    await _set_version(app.state.db, code_revisions()[0])
    response = await client.get("/readyz?optional=workers,rasa")
    assert response.status_code == 200, response.text


def test_db_wait_exits_0_at_head_and_1_behind(db_url: str) -> None:
    env = {"SAMVAD_DATABASE_URL": db_url, "SAMVAD_REDIS_URL": "redis://127.0.0.1:1/0",
           "SAMVAD_SECRET_KEY": "db-wait-test-secret-key-long-enough-0123456789",
           "SAMVAD_LOG_FORMAT": "console"}
    runner = CliRunner()
    done = runner.invoke(cli_app, ["db", "wait", "--timeout", "0"], env=env)
    assert done.exit_code == 0, done.output
    assert "database: ok" in done.output
    asyncio.run(_set_version_at(db_url, _previous_revision()))
    done = runner.invoke(cli_app, ["db", "wait", "--timeout", "0"], env=env)
    assert done.exit_code == 1, done.output
    assert "this release needs" in done.output

"""Pooled PostgreSQL connections: pinged only after sitting idle, replaced when gone."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from core_api import db

# PostgreSQL only: the idle ping is how its pool notices a server restart.
postgres_only = pytest.mark.parametrize("backend", ["postgres"], indirect=True)


async def _backend_pid(engine) -> int:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


@postgres_only
@pytest.mark.timeout(60)
async def test_an_idle_connection_that_died_is_replaced_before_use(db_url, monkeypatch):
    engine = db.make_engine(db_url, pool_size=1, max_overflow=0)
    killer = db.make_engine(db_url, pool_size=1, max_overflow=0)
    try:
        first = await _backend_pid(engine)
        assert await _backend_pid(engine) == first  # in steady use: the same connection
        async with killer.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        monkeypatch.setattr(db, "PING_IDLE_S", 0.0)  # it has sat idle long enough
        replaced = await _backend_pid(engine)  # no error reaches the caller
        assert replaced != first
    finally:
        await engine.dispose()
        await killer.dispose()


@postgres_only
@pytest.mark.timeout(60)
async def test_a_connection_in_steady_use_is_not_pinged(db_url, monkeypatch):
    engine = db.make_engine(db_url, pool_size=1, max_overflow=0)
    pings: list[object] = []
    monkeypatch.setattr(engine.sync_engine.dialect, "do_ping",
                        lambda conn: pings.append(conn) or True)
    try:
        for _ in range(3):
            await _backend_pid(engine)
        assert pings == []
        monkeypatch.setattr(db, "PING_IDLE_S", 0.0)
        await _backend_pid(engine)
        assert len(pings) == 1
    finally:
        await engine.dispose()


@postgres_only
@pytest.mark.timeout(60)
async def test_the_connection_returned_last_is_handed_out_first(db_url):
    """Under light load one connection stays warm (never idle long enough to be pinged)
    while those a burst opened sit idle: the pool is last in, first out."""
    engine = db.make_engine(db_url, pool_size=3, max_overflow=0)
    try:
        async with engine.connect() as a, engine.connect() as b:
            pids = [int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())
                    for conn in (a, b)]
        # b is returned first, a last: a is handed out again and again (FIFO: a, b, a).
        assert {await _backend_pid(engine) for _ in range(3)} == {pids[0]}
    finally:
        await engine.dispose()

"""Database plumbing: declarative base, portable column types, engine and session factory.

Services receive an ``AsyncSession`` and never commit; the request boundary
(``SessionDep``) commits once when the endpoint returned without error.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import BigInteger, DateTime, Integer, MetaData, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncAttrs,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Integer primary keys that autoincrement on SQLite too (SQLite only does so for INTEGER).
BigIntPK = BigInteger().with_variant(Integer, "sqlite")

PAISE = Decimal("0.01")


class Base(AsyncAttrs, DeclarativeBase):
    """Declarative base of every core-API table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored in UTC on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a timezone-aware one is required")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Money(TypeDecorator[Decimal]):
    """Rupee amounts as exact decimals, stored as integer paise on every backend."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | int | str | None, dialect: Any) -> int | None:
        if value is None:
            return None
        amount = Decimal(value)
        paise = amount.quantize(PAISE, rounding=ROUND_HALF_UP)
        if paise != amount:
            raise ValueError(f"amount {value} has more precision than paise")
        return int(paise * 100)

    def process_result_value(self, value: int | None, dialect: Any) -> Decimal | None:
        if value is None:
            return None
        return (Decimal(value) / 100).quantize(PAISE)


def utcnow() -> datetime:
    """The current time, timezone-aware."""
    return datetime.now(UTC)


def make_engine(url: str, *, pgbouncer: bool = False, **kwargs: Any) -> AsyncEngine:
    """Create an async engine; on SQLite turn on foreign keys, WAL and a busy timeout.

    ``pgbouncer``: ``url`` is a PgBouncer in transaction mode (see ``_pgbouncer_args``).
    Pool sizes (``pool_size``, ``max_overflow``) apply to PostgreSQL only: SQLite's pool
    is SQLAlchemy's choice for a file.
    """
    kwargs.setdefault("hide_parameters", True)  # SQL errors in logs carry no names or numbers
    if url.startswith("sqlite"):
        kwargs.pop("pool_size", None)
        kwargs.pop("max_overflow", None)
        kwargs.setdefault("connect_args", {"timeout": 30})
        engine = create_async_engine(url, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    if pgbouncer:
        kwargs["connect_args"] = {**kwargs.get("connect_args", {}), **_pgbouncer_args()}
    # The connection returned last is handed out first: under light load one connection
    # stays warm (no idle ping) while the others idle (pinged when a burst needs them).
    kwargs.setdefault("pool_use_lifo", True)
    ping_every_checkout = kwargs.setdefault("pool_pre_ping", False)
    engine = create_async_engine(url, **kwargs)
    if not ping_every_checkout:
        _ping_when_idle(engine)
    return engine


def _pgbouncer_args() -> dict[str, Any]:
    """asyncpg behind PgBouncer in transaction mode, where each transaction may run on a
    different server connection: no statement is cached for reuse (asyncpg's cache and
    SQLAlchemy's both off), and each prepared statement gets a unique name, so two clients
    sharing a server connection never collide on asyncpg's numbered names
    (SQLAlchemy's asyncpg dialect, "Prepared Statement Name with PGBouncer"). PgBouncer
    runs ``DISCARD ALL`` after each transaction (``server_reset_query_always``) so the
    statements left on the server do not pile up."""
    return {"statement_cache_size": 0, "prepared_statement_cache_size": 0,
            "prepared_statement_name_func": lambda: f"__asyncpg_{uuid.uuid4().hex}__"}


# A pooled PostgreSQL connection that sat unused this long is pinged before it is handed
# out. SQLAlchemy's pool_pre_ping pings on every checkout: with asyncpg that is BEGIN,
# a query and ROLLBACK, three of the seven round trips of a bill lookup (the profile of
# bench/scale.py). A connection in steady use is not pinged; one that broke while in use
# fails that request and the pool drops every connection made before it.
PING_IDLE_S = 1.0


def _ping_when_idle(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "checkin")
    def _idle_from(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(sync_engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < PING_IDLE_S:
            return
        try:
            sync_engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the pool retries with a fresh connection
            raise DisconnectionError("pooled connection is gone") from exc


class RequestSession(Session):
    """A session that keeps what it loaded until it closes: one API request's session.

    The identity map holds objects weakly: the caller's User that authentication loaded
    was garbage before the endpoint asked for it again, so every request selected the
    user and its roles twice (the complaint type, place and tenant of a new complaint
    too). Held here, ``session.get`` finds them without a query. Only for requests: a
    long-lived background session walking many rows must be free to drop them.
    """


def _hold(session: Session, instance: object) -> None:
    session.info.setdefault("held", set()).add(instance)


def _release(session: Session, instance: object) -> None:
    session.info.get("held", set()).discard(instance)


for _name in ("loaded_as_persistent", "pending_to_persistent", "detached_to_persistent",
              "deleted_to_persistent"):
    event.listen(RequestSession, _name, _hold)
for _name in ("persistent_to_detached", "persistent_to_deleted", "persistent_to_transient"):
    event.listen(RequestSession, _name, _release)


class Database:
    """An engine and its session factories, owned by the application."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.request_sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=RequestSession)

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    async def dispose(self) -> None:
        await self.engine.dispose()


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    database: Database = request.app.state.db
    async with database.request_sessions() as session:
        yield session
        # The request boundary: one commit when the endpoint finished without error.
        if session.in_transaction():
            await session.commit()


# scope="function": the commit happens before the answer is sent, so a 2xx means stored
# (with the default "request" scope FastAPI would send the answer first, then commit).
SessionDep = Annotated[AsyncSession, Depends(_request_session, scope="function")]

"""Reference data read on hot paths, cached per process for a short time.

The complaint catalogue (categories, types, departments), the tenants, the localities
and the workflow definitions change rarely, and only through seeding and administration
(often another process: ``samvad seed``). Filing a complaint read several of them from
the database each time. Here they are read with SQLAlchemy Core, kept as immutable rows
for ``TTL_S`` seconds, and dropped at once by ``invalidate`` when this process changes
them. Another process's change shows here within ``TTL_S``: a TTL needs no coordination
between processes, where an in-process invalidation alone would never reach them.
Entries are keyed by database URL (one process may use several databases: tests do).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from core_api.complaints.models import ComplaintCategory, ComplaintType, Department
from core_api.tenants.models import Boundary, Tenant

TTL_S = 30.0
MAX_ENTRIES = 20_000  # localities are cached one by one; a full cache starts again

_MISSING = object()


class _TTLCache:
    """Values with an expiry time; cleared whole when it grows past MAX_ENTRIES."""

    def __init__(self) -> None:
        self._entries: dict[Hashable, tuple[float, Any]] = {}

    def get(self, key: Hashable) -> Any:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return _MISSING
        return entry[1]

    def put(self, key: Hashable, value: Any) -> None:
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + TTL_S, value)

    def clear(self) -> None:
        self._entries.clear()


_cache = _TTLCache()


def invalidate() -> None:
    """Forget everything cached (this process changed reference data)."""
    _cache.clear()


def _database(session: AsyncSession) -> str:
    return str(getattr(session.bind, "url", ""))


async def cached(session: AsyncSession, name: str,
                 load: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
    """``load(session)``'s value, read again at most once per TTL_S for each database."""
    key = (_database(session), name)
    value = _cache.get(key)
    if value is _MISSING:
        value = await load(session)
        _cache.put(key, value)
    return value


async def _rows(session: AsyncSession, query: Any) -> list[Row[Any]]:
    connection = await session.connection()
    return list(await connection.execute(query))


@dataclass(frozen=True)
class Catalogue:
    """Every category, type and department, active or not (old complaints keep their
    type's name); ``categories`` and each category's types in menu order."""

    categories: tuple[Row[Any], ...]
    types: dict[str, Row[Any]]
    departments: dict[str, Row[Any]]

    def active_types(self, category_code: str) -> list[Row[Any]]:
        return [t for t in self.types.values()
                if t.category_code == category_code and t.active]


async def _load_catalogue(session: AsyncSession) -> Catalogue:
    categories = ComplaintCategory.__table__
    types = ComplaintType.__table__
    departments = Department.__table__
    category_rows = await _rows(session, select(categories).order_by(
        categories.c.position, categories.c.code))
    type_rows = await _rows(session, select(types).order_by(types.c.position, types.c.code))
    department_rows = await _rows(session, select(departments))
    return Catalogue(categories=tuple(category_rows),
                     types={row.code: row for row in type_rows},
                     departments={row.code: row for row in department_rows})


async def catalogue(session: AsyncSession) -> Catalogue:
    """The complaint catalogue (three queries at most once per TTL)."""
    value: Catalogue = await cached(session, "catalogue", _load_catalogue)
    return value


async def _load_tenants(session: AsyncSession) -> dict[str, Row[Any]]:
    tenants = Tenant.__table__
    return {row.code: row for row in await _rows(session, select(tenants))}


async def tenants(session: AsyncSession) -> dict[str, Row[Any]]:
    """Every tenant (the state and its ULBs) by code."""
    value: dict[str, Row[Any]] = await cached(session, "tenants", _load_tenants)
    return value


async def boundaries(session: AsyncSession, ids: Iterable[int | None]) -> dict[int, Row[Any]]:
    """The boundaries with these ids (unknown ids are left out); those not cached are read
    in one query."""
    database = _database(session)
    found: dict[int, Row[Any]] = {}
    wanted: set[int] = set()
    for boundary_id in {i for i in ids if i is not None}:
        row = _cache.get((database, "boundary", boundary_id))
        if row is _MISSING:
            wanted.add(boundary_id)
        elif row is not None:
            found[boundary_id] = row
    if wanted:
        table = Boundary.__table__
        for row in await _rows(session, select(table).where(table.c.id.in_(wanted))):
            found[row.id] = row
        for boundary_id in wanted:
            _cache.put((database, "boundary", boundary_id), found.get(boundary_id))
    return found


async def boundary(session: AsyncSession, boundary_id: int) -> Row[Any] | None:
    """One boundary, or None."""
    return (await boundaries(session, [boundary_id])).get(boundary_id)

"""Race-safe sequential numbers per tenant and year: CR-DDN-2026-000001, BC-DDN-2026-000001."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from core_api.certificates.models import CertificateCounter
from core_api.db import utcnow
from core_api.tenants.models import Tenant

IST = ZoneInfo("Asia/Kolkata")


async def next_value(session: AsyncSession, scope: str) -> int:
    """Increment the counter of ``scope`` and return the new value.

    One ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` statement: concurrent callers
    queue on the counter row (PostgreSQL row lock, SQLite write lock), so no two
    transactions get the same value.
    """
    insert = (postgresql.insert if session.get_bind().dialect.name == "postgresql"
              else sqlite.insert)
    statement = (
        insert(CertificateCounter)
        .values(scope=scope, value=1)
        .on_conflict_do_update(
            index_elements=[CertificateCounter.scope],
            set_={"value": CertificateCounter.value + 1},
        )
        .returning(CertificateCounter.value)
    )
    return (await session.execute(statement)).scalar_one()


async def next_number(
    session: AsyncSession, prefix: str, tenant: Tenant, width: int = 6,
    now: datetime | None = None,
) -> str:
    """The next ``<prefix>-<ULB id code>-<year>-<serial>`` of this tenant in this (IST) year."""
    year = (now or utcnow()).astimezone(IST).year
    value = await next_value(session, f"{prefix}:{tenant.code}:{year}")
    return f"{prefix}-{tenant.id_code}-{year}-{value:0{width}d}"

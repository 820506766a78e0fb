"""Writing and reading outbox events. Callers pass their session; nothing commits here."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core_api.db import utcnow
from core_api.events.contract import validate
from core_api.events.models import OutboxEvent


def emit(
    session: AsyncSession, topic: str, tenant_code: str, aggregate_id: str, payload: dict[str, Any]
) -> OutboxEvent:
    """Add an event to the caller's transaction: it exists exactly when the change does.

    The payload must match the event type's schema (``core_api.events.contract``), or this
    raises ``EventContractError`` and the caller's transaction fails with it: a payload is
    built by code, never by input, so a mismatch is a bug every publisher's tests catch,
    and no event a consumer cannot read ever reaches the outbox."""
    validate(topic, payload)
    event = OutboxEvent(
        topic=topic, tenant_code=tenant_code, aggregate_id=aggregate_id, payload=payload
    )
    session.add(event)
    return event


async def pending(session: AsyncSession, limit: int = 100) -> list[OutboxEvent]:
    """The oldest unpublished events."""
    rows = await session.scalars(
        select(OutboxEvent).where(OutboxEvent.published_at.is_(None)).order_by(OutboxEvent.id)
        .limit(limit)
    )
    return list(rows)


async def mark_published(session: AsyncSession, ids: list[int]) -> None:
    """Mark events as handed to the queue."""
    if ids:
        await session.execute(
            update(OutboxEvent).where(OutboxEvent.id.in_(ids)).values(published_at=utcnow())
        )

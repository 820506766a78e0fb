"""The outbox relay: publishes committed domain events to a Redis stream, in order.

At least once: an event is marked published only after the stream accepted it, so a
crash in between publishes it again; consumers drop repeats by ``event_id``.
"""

from __future__ import annotations

import orjson
from redis.asyncio import Redis
from sqlalchemy import select

from core_api.db import Database
from core_api.events.contract import EVENTS_STREAM
from core_api.events.models import OutboxEvent
from core_api.events.outbox import mark_published

STREAM_MAX_LEN = 1_000_000


async def relay_once(db: Database, redis: Redis, batch: int = 200) -> int:
    """Publish up to ``batch`` unpublished events; return how many were published."""
    async with db.sessions() as session:
        query = (select(OutboxEvent).where(OutboxEvent.published_at.is_(None))
                 .order_by(OutboxEvent.id).limit(batch))
        if not db.is_sqlite:
            # Several relays may run; each takes different rows.
            query = query.with_for_update(skip_locked=True)
        events = list(await session.scalars(query))
        if not events:
            return 0
        pipe = redis.pipeline(transaction=False)
        for event in events:
            pipe.xadd(EVENTS_STREAM, {
                "event_id": event.event_id,
                "topic": event.topic,
                "tenant": event.tenant_code,
                "aggregate": event.aggregate_id,
                "payload": orjson.dumps(event.payload),
                "created_at": event.created_at.isoformat(),
            }, maxlen=STREAM_MAX_LEN, approximate=True)
        await pipe.execute()
        await mark_published(session, [e.id for e in events])
        await session.commit()
        return len(events)

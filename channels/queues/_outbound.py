"""Outbound jobs waiting to be sent, one ordered mailbox per recipient (channel + number)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import orjson
from redis.asyncio import Redis

from bot.session_store import conversation_key
from channels.base import OutboundJob
from channels.queues._mailboxes import DEFAULT_LEASE_MS, Mailboxes


@dataclass(frozen=True)
class OutboxItem:
    """A job with its delivery bookkeeping, as stored at the head of the mailbox."""

    job: OutboundJob
    attempts: int = 0
    not_before: float | None = None  # unix time of the next attempt (retry backoff)
    error: str | None = None  # the last attempt's error code

    def dumps(self) -> bytes:
        # orjson writes dataclasses itself, fields in order: the bytes ``asdict`` gave.
        return orjson.dumps(self)

    @classmethod
    def loads(cls, raw: bytes) -> OutboxItem:
        data: dict[str, Any] = orjson.loads(raw)
        return cls(OutboundJob(**data["job"]), data["attempts"], data["not_before"],
                   data["error"])

    def retry(self, at: float, error: str | None, job: OutboundJob | None = None) -> OutboxItem:
        return replace(self, job=job or self.job, not_before=at, error=error)


def recipient_key(job: OutboundJob) -> str:
    """Whose order a job belongs to: ``sms:+919876500001``."""
    return conversation_key(job.channel, job.to)


def job_state_key(job: OutboundJob) -> str:
    """The never-twice state of ``job`` (``_sending``), under its recipient's outbound hash
    tag: ``samvad:{outbound:sms:+919876500001}:job:<job id>``, so the send worker's drain
    steps read and write it in the same script as the mailbox (one cluster slot)."""
    return f"samvad:{{outbound:{recipient_key(job)}}}:job:{job.job_id}"


def by_recipient(jobs: list[OutboundJob]) -> dict[str, list[bytes]]:
    """The mailbox items of ``jobs`` per recipient, in order (``Mailboxes.add``)."""
    items: dict[str, list[bytes]] = {}
    for job in jobs:
        items.setdefault(recipient_key(job), []).append(OutboxItem(job).dumps())
    return items


class OutboundQueue:
    """Replies and notifications to send; ``SendWorker`` delivers them."""

    def __init__(self, redis: Redis, *, lease_ms: int = DEFAULT_LEASE_MS,
                 reclaim_idle_ms: int | None = None) -> None:
        self.redis = redis
        self.boxes = Mailboxes(redis, "outbound", lease_ms=lease_ms,
                               reclaim_idle_ms=reclaim_idle_ms)

    async def enqueue(self, *jobs: OutboundJob) -> None:
        """Queue ``jobs`` in one round trip; each recipient's jobs go out in this order."""
        if jobs:
            await self.boxes.add(by_recipient(list(jobs)))

    async def waiting(self, channel: str, to: str) -> list[OutboxItem]:
        """Jobs for one recipient not finished yet, next first."""
        return [OutboxItem.loads(raw) for raw in await self.boxes.waiting(f"{channel}:{to}")]

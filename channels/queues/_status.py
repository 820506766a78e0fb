"""The delivery record in the core API (``/api/v1/channel-messages``) and provider opt-outs.

Each record carries the delivery policy's rule (``params["rule"]``), the SMS segment count
and the estimated cost in rupees (``MessageCosts``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Literal, Protocol

from bot.core_client import CoreClient
from bot.services import ServiceError
from channels.base import OutboundJob
from channels.metrics import delivery_report
from channels.queues._costs import MessageCosts
from channels.queues._fallback import SmsFallback
from channels.queues._notifications import RULE

Status = Literal["queued", "unknown", "sent", "delivered", "read", "failed"]
STATUSES: tuple[Status, ...] = ("queued", "unknown", "sent", "delivered", "read", "failed")
MESSAGES_PATH = "/api/v1/channel-messages"
MAX_BATCH = 200  # delivery records per batch request (the API takes up to 500)
# How long a status callback waits for others to share its write: callbacks are not on a
# citizen's path, and at a few hundred a second 20 ms gathers about five per statement.
STATUS_LINGER_S = 0.02


def first_status(provider_status: str) -> Status:
    """Our status for the one a provider answered a send with ("accepted" -> "queued")."""
    for status in STATUSES:
        if status == provider_status:
            return status
    return "queued"


Batch = list[tuple[dict[str, Any], asyncio.Future[None]]]


def _settle(batch: Batch, error: ServiceError | None) -> None:
    for _, done in batch:
        if done.done():
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)


class GroupCommit:
    """Bodies asked for while a write is in flight, or within ``linger_s`` of the first
    one, go together in the next ``write`` (one request, one SQL statement), in the order
    asked, at most ``max_batch`` at a time. Each caller returns once its own body is
    written, or raises the write's ``ServiceError``; a cancelled caller leaves its body
    to be written. ``alone_if_refused``: a batch the API refuses (422) is written again
    one body at a time, so that one bad body fails only its own caller."""

    def __init__(self, write: Callable[[list[dict[str, Any]]], Awaitable[None]], *,
                 max_batch: int, linger_s: float = 0.0, alone_if_refused: bool = False,
                 ) -> None:
        self.write = write
        self.max_batch = max_batch
        self.linger_s = linger_s
        self.alone_if_refused = alone_if_refused
        self._pending: Batch = []
        self._writer: asyncio.Task[None] | None = None

    async def add(self, body: dict[str, Any]) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((body, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_pending())
        await asyncio.shield(done)

    async def _write_pending(self) -> None:
        """Write what is pending, in batches in the order asked, until nothing is."""
        batch: Batch = []
        try:
            if self.linger_s > 0:
                await asyncio.sleep(self.linger_s)
            while self._pending:
                batch, self._pending = (self._pending[:self.max_batch],
                                        self._pending[self.max_batch:])
                await self._write(batch)
        finally:  # cancelled (shutdown): nobody may wait for ever
            stopped = ServiceError("unavailable", "delivery record writer stopped", 503)
            _settle(batch, stopped)
            _settle(self._pending, stopped)
            self._pending = []

    async def _write(self, batch: Batch) -> None:
        try:
            await self.write([body for body, _ in batch])
        except ServiceError as exc:
            if exc.status == 422 and self.alone_if_refused and len(batch) > 1:
                for one in batch:
                    await self._write([one])
                return
            _settle(batch, exc)
        else:
            _settle(batch, None)


class DeliveryReports(Protocol):
    """What the send worker tells the rest of the system."""

    async def record(self, job: OutboundJob, status: Status, *,
                     provider_message_id: str | None = None, error_code: str | None = None,
                     attempts: int = 0) -> None: ...

    async def opt_out(self, phone: str) -> None: ...


class MessageStatusStore:
    """Writes delivery records and provider statuses through the core API (service token).

    Every method raises ``bot.engine.ServiceError`` when the core API is unreachable or
    refuses; a webhook then answers 5xx so the provider calls again.

    ``record`` and ``update`` are group commits (``GroupCommit``): records asked for while
    a write is in flight go together in the next ``POST /channel-messages/batch``, and the
    statuses of the callbacks that arrive within ``status_linger_s`` of each other in the
    next ``POST /channel-messages/statuses`` (one request, one SQL statement each), so a
    send worker with many mailboxes in hand, or a web process taking a provider's
    callbacks, pays one API call per batch, not per message. Each caller still returns
    only once its own write is done (or raises if it was not): a webhook answers the
    provider only then.
    """

    def __init__(self, client: CoreClient, *, max_batch: int = MAX_BATCH,
                 costs: MessageCosts | None = None, fallback: SmsFallback | None = None,
                 status_linger_s: float = STATUS_LINGER_S) -> None:
        self.client = client
        self.costs = costs or MessageCosts()
        self.fallback = fallback  # failed WhatsApp notifications go as SMS (on_status)
        self._records = GroupCommit(self._post_records, max_batch=max_batch)
        self._statuses = GroupCommit(self._post_statuses, max_batch=max_batch,
                                     linger_s=status_linger_s, alone_if_refused=True)

    async def record(self, job: OutboundJob, status: Status, *,
                     provider_message_id: str | None = None, error_code: str | None = None,
                     attempts: int = 0) -> None:
        """Create or update the record of ``job`` (statuses never move backwards)."""
        estimate = self.costs.estimate(job, status)
        await self._records.add({
            "job_id": job.job_id, "provider": job.provider, "channel": job.channel,
            "to": job.to, "kind": job.kind, "status": status,
            "provider_message_id": provider_message_id, "error_code": error_code,
            "attempts": attempts, "rule": job.params.get(RULE),
            "segments": estimate.segments, "cost": str(estimate.cost)})

    async def _post_records(self, records: list[dict[str, Any]]) -> None:
        # Even a lone record goes as a batch: one SQL statement, and no record read back.
        await self.client.request("POST", f"{MESSAGES_PATH}/batch", None,
                                  json={"records": records})

    async def _post_statuses(self, statuses: list[dict[str, Any]]) -> None:
        await self.client.request("POST", f"{MESSAGES_PATH}/statuses", None,
                                  json={"statuses": statuses})

    async def update(self, provider: str, provider_message_id: str, status: Status, *,
                     error_code: str | None = None, at: datetime | None = None) -> None:
        """Apply a provider's status callback (e.g. "twilio", "SM...", "delivered"); a
        WhatsApp notification failed with an SMS-fallback code then goes as SMS (once)."""
        await self._statuses.add({
            "provider": provider, "provider_message_id": provider_message_id,
            "status": status, "error_code": error_code,
            "at": at.isoformat() if at else None})
        delivery_report(provider, status, error_code).inc()
        if self.fallback is not None:
            await self.fallback.on_status(provider, provider_message_id, status, error_code)

    async def opt_out(self, phone: str) -> None:
        """Mark the citizen with ``phone`` as opted out (the provider refuses to reach them)."""
        await self.client.request("PATCH", "/api/v1/citizens/me", phone,
                                  json={"opted_out": True})

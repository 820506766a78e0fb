"""The delivery record in the core API (``/api/v1/channel-messages``) and provider opt-outs.

Each record carries the delivery policy's rule (``params["rule"]``), the SMS segment count
and the estimated cost in rupees (``MessageCosts``).
"""

from __future__ import annotations

import asyncio
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


def first_status(provider_status: str) -> Status:
    """Our status for the one a provider answered a send with ("accepted" -> "queued")."""
    for status in STATUSES:
        if status == provider_status:
            return status
    return "queued"


def _settle(batch: list[tuple[dict[str, Any], asyncio.Future[None]]],
            error: ServiceError | None) -> None:
    for _, done in batch:
        if done.done():
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)


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

    ``record`` is a group commit: records asked for while a write is in flight go together
    in the next ``POST /channel-messages/batch`` (one request, one SQL statement), so a
    send worker with many mailboxes in hand pays one API call per batch, not per message. Each
    caller still returns only once its own record is written (or raises if it was not).
    """

    def __init__(self, client: CoreClient, *, max_batch: int = MAX_BATCH,
                 costs: MessageCosts | None = None,
                 fallback: SmsFallback | None = None) -> None:
        self.client = client
        self.max_batch = max_batch
        self.costs = costs or MessageCosts()
        self.fallback = fallback  # failed WhatsApp notifications go as SMS (on_status)
        self._pending: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, job: OutboundJob, status: Status, *,
                     provider_message_id: str | None = None, error_code: str | None = None,
                     attempts: int = 0) -> None:
        """Create or update the record of ``job`` (statuses never move backwards)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        estimate = self.costs.estimate(job, status)
        self._pending.append(({
            "job_id": job.job_id, "provider": job.provider, "channel": job.channel,
            "to": job.to, "kind": job.kind, "status": status,
            "provider_message_id": provider_message_id, "error_code": error_code,
            "attempts": attempts, "rule": job.params.get(RULE),
            "segments": estimate.segments, "cost": str(estimate.cost)}, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_pending())
        await asyncio.shield(done)  # a cancelled caller leaves the batch to finish

    async def _write_pending(self) -> None:
        """Write what is pending, in batches in the order asked, until nothing is."""
        batch: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        try:
            while self._pending:
                batch, self._pending = (self._pending[:self.max_batch],
                                        self._pending[self.max_batch:])
                try:
                    await self._post(batch)
                except ServiceError as exc:
                    _settle(batch, exc)
                else:
                    _settle(batch, None)
        finally:  # cancelled (shutdown): nobody may wait for ever
            stopped = ServiceError("unavailable", "delivery record writer stopped", 503)
            _settle(batch, stopped)
            _settle(self._pending, stopped)
            self._pending = []

    async def _post(self, batch: list[tuple[dict[str, Any], asyncio.Future[None]]]) -> None:
        # Even a lone record goes as a batch: one SQL statement, and no record read back.
        await self.client.request("POST", f"{MESSAGES_PATH}/batch", None,
                                  json={"records": [body for body, _ in batch]})

    async def update(self, provider: str, provider_message_id: str, status: Status, *,
                     error_code: str | None = None, at: datetime | None = None) -> None:
        """Apply a provider's status callback (e.g. "twilio", "SM...", "delivered"); a
        WhatsApp notification failed with an SMS-fallback code then goes as SMS (once)."""
        await self.client.request("POST", f"{MESSAGES_PATH}/status", None, json={
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

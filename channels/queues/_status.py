"""The delivery record in the core API (``/api/v1/channel-messages``) and provider opt-outs."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Protocol

from bot.core_client import CoreClient
from channels.base import OutboundJob
from channels.metrics import delivery_report

Status = Literal["queued", "unknown", "sent", "delivered", "read", "failed"]
STATUSES: tuple[str, ...] = ("queued", "unknown", "sent", "delivered", "read", "failed")
MESSAGES_PATH = "/api/v1/channel-messages"


def first_status(provider_status: str) -> Status:
    """Our status for the one a provider answered a send with ("accepted" -> "queued")."""
    for status in STATUSES:
        if status == provider_status:
            return status  # type: ignore[return-value]
    return "queued"


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
    """

    def __init__(self, client: CoreClient) -> None:
        self.client = client

    async def record(self, job: OutboundJob, status: Status, *,
                     provider_message_id: str | None = None, error_code: str | None = None,
                     attempts: int = 0) -> None:
        """Create or update the record of ``job`` (statuses never move backwards)."""
        await self.client.request("POST", MESSAGES_PATH, None, json={
            "job_id": job.job_id, "provider": job.provider, "channel": job.channel,
            "to": job.to, "kind": job.kind, "status": status,
            "provider_message_id": provider_message_id, "error_code": error_code,
            "attempts": attempts})

    async def update(self, provider: str, provider_message_id: str, status: Status, *,
                     error_code: str | None = None, at: datetime | None = None) -> None:
        """Apply a provider's status callback (e.g. "twilio", "SM...", "delivered")."""
        await self.client.request("POST", f"{MESSAGES_PATH}/status", None, json={
            "provider": provider, "provider_message_id": provider_message_id,
            "status": status, "error_code": error_code,
            "at": at.isoformat() if at else None})
        delivery_report(provider, status, error_code).inc()

    async def opt_out(self, phone: str) -> None:
        """Mark the citizen with ``phone`` as opted out (the provider refuses to reach them)."""
        await self.client.request("PATCH", "/api/v1/citizens/me", phone,
                                  json={"opted_out": True})

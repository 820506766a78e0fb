"""One row per outbound message: who it went to, through which provider, and how far it got."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Index, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core_api.db import Base, BigIntPK, UTCDateTime, utcnow


class MessageStatus(StrEnum):
    """Delivery states, in the order a message moves through them (``failed`` is final)."""

    QUEUED = "queued"  # accepted by us or by the provider, not yet sent to the handset
    UNKNOWN = "unknown"  # a worker died while sending: it may or may not have gone out
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


# A status only ever moves up this ladder: a late "sent" callback never undoes "delivered".
STATUS_RANK: dict[str, int] = {status.value: rank for rank, status in enumerate(MessageStatus)}


class ChannelMessage(Base):
    """An outbound message (``job_id`` set) or a provider status nobody claimed yet (unset).

    A status callback can overtake the worker's own record of the send; it is kept as a row
    without ``job_id`` and adopted when the worker records the provider message id.
    """

    __tablename__ = "channel_messages"
    __table_args__ = (
        UniqueConstraint("provider", "provider_message_id",
                         name="uq_channel_messages_provider_message"),
        Index("ix_channel_messages_created", "created_at", "channel", "status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    job_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    provider: Mapped[str] = mapped_column(String(16))  # "twilio", "meta", "simulator"
    channel: Mapped[str | None] = mapped_column(String(16))  # a ChannelKind
    to: Mapped[str | None] = mapped_column(String(20))  # E.164
    kind: Mapped[str | None] = mapped_column(String(40))  # "reply" or a notification kind
    provider_message_id: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(12), default=MessageStatus.QUEUED)
    error_code: Mapped[str | None] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The delivery policy's rule that chose the channel (e.g. "case_channel", "sms_fallback")
    # and the estimated cost in rupees (WhatsApp template, SMS segments x rate).
    rule: Mapped[str | None] = mapped_column(String(40))
    segments: Mapped[int | None] = mapped_column(Integer)
    cost: Mapped[Decimal | None] = mapped_column(Numeric(10, 4))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

"""Chat activity rolled up per day: the bot counts turns in memory and flushes deltas here.

One row per (IST day, tenant, channel, locale, flow, step). The bot never writes to the
database itself (SPEC §1): its workers post counter deltas to the core API, which adds
them with an upsert, so many workers can report into the same rows.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core_api.db import Base


class ChatActivity(Base):
    """Counters of one conversation position on one day."""

    __tablename__ = "chat_activity"
    __table_args__ = (Index("ix_chat_activity_tenant_day", "tenant_code", "day"),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    tenant_code: Mapped[str] = mapped_column(String(64), primary_key=True)  # "" = not known
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    locale: Mapped[str] = mapped_column(String(10), primary_key=True)
    flow: Mapped[str] = mapped_column(String(40), primary_key=True)
    step: Mapped[str] = mapped_column(String(60), primary_key=True)
    conversations: Mapped[int] = mapped_column(Integer, default=0)  # started here
    turns: Mapped[int] = mapped_column(Integer, default=0)  # messages answered here
    entered: Mapped[int] = mapped_column(Integer, default=0)  # arrivals at this step
    completed: Mapped[int] = mapped_column(Integer, default=0)  # flow finished (step "")

"""Workflow tables: business services as data, process instances and their history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core_api.db import Base, BigIntPK, UTCDateTime, utcnow


class BusinessService(Base):
    """A state machine (e.g. PGR) stored as data; ``definition`` is the parsed YAML."""

    __tablename__ = "workflow_business_services"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ProcessInstance(Base):
    """The workflow state of one business object (a complaint, a certificate request)."""

    __tablename__ = "workflow_processes"
    __table_args__ = (
        UniqueConstraint("business_service", "business_id", name="uq_workflow_process_object"),
        Index("ix_workflow_processes_inbox", "tenant_code", "business_service", "state"),
        Index("ix_workflow_processes_sla", "state_sla_due_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    business_service: Mapped[str] = mapped_column(ForeignKey("workflow_business_services.code"))
    business_id: Mapped[str] = mapped_column(String(64))
    tenant_code: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(40))
    owner_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    assignee_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    sla_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the whole process
    state_sla_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # current state
    escalated: Mapped[bool] = mapped_column(default=False)
    # The SLA warning (80% of the deadline used) went out for the current state.
    sla_warned: Mapped[bool] = mapped_column(default=False)
    # Escalation: the last level reached (0: none) and when; repeated at an interval.
    escalation_level: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    history: Mapped[list[ProcessHistory]] = relationship(
        back_populates="process", order_by="ProcessHistory.id", cascade="all, delete-orphan",
        lazy="raise",
    )


class ProcessHistory(Base):
    """One transition: who, when, what, from which state to which, why."""

    __tablename__ = "workflow_history"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    process_id: Mapped[int] = mapped_column(
        ForeignKey("workflow_processes.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str | None] = mapped_column(String(40))
    to_state: Mapped[str] = mapped_column(String(40))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_role: Mapped[str] = mapped_column(String(16))  # role used, CITIZEN or SYSTEM
    assignee_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    comment: Mapped[str | None] = mapped_column(Text)
    documents: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    process: Mapped[ProcessInstance] = relationship(back_populates="history")

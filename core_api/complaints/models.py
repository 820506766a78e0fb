"""Complaints (DIGIT's PGR): the catalogue of complaint types, complaints, photos, numbering."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core_api.db import Base, BigIntPK, UTCDateTime, utcnow

DESCRIPTION_MAX = 1000
MAX_PHOTOS = 3
# Sources that are no chat channel: the web form, and those the server sets itself for
# staff (CSR) and Open311 filings. Every other source is a chat channel kind (``ChannelKind``).
WEB_SOURCE = "web"
STAFF_SOURCES = ("csr", "open311")


class Department(Base):
    """A municipal department that complaint types are routed to (DEPT_STREETLIGHT, ...)."""

    __tablename__ = "departments"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name_en: Mapped[str] = mapped_column(String(120))
    name_hi: Mapped[str] = mapped_column(String(120))
    names: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # {"pa": ..., "or": ...}


class ComplaintCategory(Base):
    """A menu group of complaint types (Streetlights, Garbage, ...)."""

    __tablename__ = "complaint_categories"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name_en: Mapped[str] = mapped_column(String(120))
    name_hi: Mapped[str] = mapped_column(String(120))
    names: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    position: Mapped[int] = mapped_column(Integer, default=0)  # order in menus
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ComplaintType(Base):
    """What a citizen picks (a PGR service definition): routing department and SLA."""

    __tablename__ = "complaint_types"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    category_code: Mapped[str] = mapped_column(ForeignKey("complaint_categories.code"),
                                               index=True)
    department_code: Mapped[str] = mapped_column(ForeignKey("departments.code"))
    sla_hours: Mapped[int] = mapped_column(Integer)
    name_en: Mapped[str] = mapped_column(String(120))
    name_hi: Mapped[str] = mapped_column(String(120))
    names: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # Free-text matching words per language: {"en": [...], "hi": [...], "hinglish": [...]}.
    keywords: Mapped[dict[str, list[str]]] = mapped_column(JSON, default=dict)
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ComplaintCounter(Base):
    """The last complaint number issued per ULB and year (PG-UK-DDN-2026-000123)."""

    __tablename__ = "complaint_counters"

    tenant_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(Integer, default=0)


class Complaint(Base):
    """One grievance; ``status`` mirrors its PGR workflow state."""

    __tablename__ = "complaints"
    __table_args__ = (
        Index("ix_complaints_inbox", "tenant_code", "status", "assignee_user_id"),
        Index("ix_complaints_citizen", "citizen_user_id", "created_at"),
        Index("ix_complaints_tenant_created", "tenant_code", "created_at"),
        # Dashboard: its aggregates read only this index (index-only scans on PostgreSQL).
        Index("ix_complaints_dashboard", "tenant_code", "created_at", "status", "type_code",
              "locality_id", "rating", "sla_due_at", "resolved_at"),
        # Dashboard: the oldest open complaints of a ULB.
        Index("ix_complaints_tenant_status_created", "tenant_code", "status", "created_at"),
        CheckConstraint("rating IS NULL OR (rating >= 1 AND rating <= 5)", name="rating_range"),
        # A filing repeated with the same Idempotency-Key (a bot turn run again after a
        # worker died) finds the first complaint instead of filing a second one.
        Index("uq_complaints_citizen_request_key", "citizen_user_id", "request_key",
              unique=True),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    complaint_no: Mapped[str] = mapped_column(String(32), unique=True)  # the human id
    tenant_code: Mapped[str] = mapped_column(ForeignKey("tenants.code"))
    type_code: Mapped[str] = mapped_column(ForeignKey("complaint_types.code"))
    description: Mapped[str | None] = mapped_column(Text)  # as given; never interpreted
    locality_id: Mapped[int | None] = mapped_column(ForeignKey("boundaries.id"))
    lat: Mapped[float | None] = mapped_column(Float)
    lng: Mapped[float | None] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(String(16))  # a chat channel kind | web | csr | open311
    citizen_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # The filer's Idempotency-Key, unique per citizen; None when none was given.
    request_key: Mapped[str | None] = mapped_column(String(64))
    filed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(40))
    assignee_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    rating: Mapped[int | None] = mapped_column(SmallInteger)
    feedback: Mapped[str | None] = mapped_column(Text)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    # Closed by the system after the citizen left a resolution unanswered (not confirmed).
    auto_closed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    sla_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the last RESOLVE
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    photos: Mapped[list[ComplaintPhoto]] = relationship(
        back_populates="complaint", order_by="ComplaintPhoto.position",
        cascade="all, delete-orphan", lazy="selectin",
    )


class ComplaintPhoto(Base):
    """A photo of a complaint in the file store; positions 1-3 make the limit a constraint.

    Photos are private (staff and the complainant, by signed expiring links) until a GRO, LME
    or ADMIN marks one ``public``; Open311 then links it at a stable address made of
    ``public_id`` (random, not derived from the key, the complaint or the citizen).
    """

    __tablename__ = "complaint_photos"
    __table_args__ = (
        UniqueConstraint("complaint_id", "position", name="uq_complaint_photos_slot"),
        CheckConstraint(f"position >= 1 AND position <= {MAX_PHOTOS}", name="position_range"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(SmallInteger)
    file_key: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    uploaded_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    public: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Set the first time the photo is made public and kept (the public link stays the same).
    public_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    published_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # last change of public

    complaint: Mapped[Complaint] = relationship(back_populates="photos")

    def as_document(self) -> dict[str, Any]:
        """How a photo is referenced from a workflow history entry."""
        return {"file_key": self.file_key, "content_type": self.content_type}

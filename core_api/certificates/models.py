"""Birth and death registrations, requests for certificate copies, and issued certificates."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from core_api.db import Base, BigIntPK, Money, UTCDateTime, utcnow

BIRTH, DEATH = "birth", "death"
# The requester's relation to the person on the record ("self": the record is theirs).
RELATIONS = ("self", "parent", "spouse", "child", "other")
# Relations a request may give per kind of record: nobody requests their own death record.
RELATIONS_BY_KIND = {BIRTH: RELATIONS, DEATH: ("spouse", "child", "parent", "other")}


class Registration(Base):
    """One entry of a ULB's register of births or deaths (read-only for Samvad's users)."""

    __tablename__ = "bnd_registrations"
    __table_args__ = (
        # Search by details always names the tenant, the kind and the exact date.
        Index("ix_bnd_registrations_lookup", "tenant_code", "kind", "event_date"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    registration_number: Mapped[str] = mapped_column(String(32), unique=True)  # B-DDN-2019-00123
    kind: Mapped[str] = mapped_column(String(8))  # birth | death
    tenant_code: Mapped[str] = mapped_column(ForeignKey("tenants.code"))
    name_en: Mapped[str] = mapped_column(String(120))
    name_hi: Mapped[str | None] = mapped_column(String(120))
    event_date: Mapped[date] = mapped_column(Date)
    place_en: Mapped[str] = mapped_column(String(200))
    place_hi: Mapped[str | None] = mapped_column(String(200))
    gender: Mapped[str] = mapped_column(String(16))  # male | female | other | transgender
    father_name: Mapped[str | None] = mapped_column(String(120))
    father_name_hi: Mapped[str | None] = mapped_column(String(120))
    mother_name: Mapped[str | None] = mapped_column(String(120))
    mother_name_hi: Mapped[str | None] = mapped_column(String(120))
    spouse_name: Mapped[str | None] = mapped_column(String(120))  # death records
    spouse_name_hi: Mapped[str | None] = mapped_column(String(120))
    registered_on: Mapped[date] = mapped_column(Date)
    informant_name: Mapped[str | None] = mapped_column(String(120))
    informant_relation: Mapped[str | None] = mapped_column(String(40))
    informant_address: Mapped[str | None] = mapped_column(String(300))
    # The informant's mobile number (E.164), as DIGIT's registrations record it: a request
    # from this verified number is linked to the record; any other is verified by hand.
    informant_phone: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CertificateRequest(Base):
    """A request for copies of a certificate; its status mirrors the BND-CERT workflow."""

    __tablename__ = "certificate_requests"
    __table_args__ = (
        Index("ix_certificate_requests_inbox", "tenant_code", "status"),
        Index("ix_certificate_requests_tenant_created", "tenant_code", "created_at", "status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    request_number: Mapped[str] = mapped_column(String(32), unique=True)  # CR-DDN-2026-000001
    tenant_code: Mapped[str] = mapped_column(ForeignKey("tenants.code"))
    registration_id: Mapped[int] = mapped_column(ForeignKey("bnd_registrations.id"), index=True)
    owner_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    applicant_name: Mapped[str | None] = mapped_column(String(120))
    applicant_phone: Mapped[str | None] = mapped_column(String(20))
    # One of RELATIONS; None only on requests made before it was asked.
    relation: Mapped[str | None] = mapped_column(String(16))
    # The requester is not the record's informant (by verified number): the registrar
    # checks who they are before approving.
    needs_verification: Mapped[bool] = mapped_column(Boolean, default=False,
                                                     server_default=false())
    copies: Mapped[int] = mapped_column(Integer)
    # The chat channel the request was made on ("whatsapp", "sms"): its news goes there.
    channel: Mapped[str | None] = mapped_column(String(16))
    fee: Mapped[Decimal] = mapped_column(Money)
    fee_bill_number: Mapped[str | None] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(40))
    status_comment: Mapped[str | None] = mapped_column(Text)  # e.g. the rejection reason
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Certificate(Base):
    """An issued certificate: its number, the stored PDF and who issued it."""

    __tablename__ = "certificates"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    certificate_number: Mapped[str] = mapped_column(String(32), unique=True)  # BC-DDN-2026-000001
    request_id: Mapped[int] = mapped_column(ForeignKey("certificate_requests.id"), unique=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("bnd_registrations.id"), index=True)
    tenant_code: Mapped[str] = mapped_column(ForeignKey("tenants.code"))
    kind: Mapped[str] = mapped_column(String(8))
    file_key: Mapped[str | None] = mapped_column(String(200))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    issued_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class CertificateCounter(Base):
    """The last number handed out per scope (e.g. ``CR:uk.dehradun:2026``)."""

    __tablename__ = "certificate_counters"

    scope: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)

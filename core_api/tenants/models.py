"""Tenants (state and ULBs) and their boundary hierarchy: zone -> ward -> locality."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core_api.db import Base, BigIntPK


class Tenant(Base):
    """The state (``uk``) or one urban local body (``uk.dehradun``)."""

    __tablename__ = "tenants"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("tenants.code"))
    level: Mapped[str] = mapped_column(String(8))  # "state" or "ulb"
    id_code: Mapped[str] = mapped_column(String(8))  # DDN in PG-UK-DDN-2026-000123
    name_en: Mapped[str] = mapped_column(String(120))
    name_hi: Mapped[str] = mapped_column(String(120))
    short_en: Mapped[str | None] = mapped_column(String(60))
    short_hi: Mapped[str | None] = mapped_column(String(60))
    names: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # {"pa": ..., "or": ...}
    short_names: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    lat: Mapped[float | None] = mapped_column(Float)
    lng: Mapped[float | None] = mapped_column(Float)


class Boundary(Base):
    """A zone, ward or locality inside one ULB."""

    __tablename__ = "boundaries"
    __table_args__ = (Index("ix_boundaries_tenant_kind", "tenant_code", "kind"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(80), unique=True)
    tenant_code: Mapped[str] = mapped_column(ForeignKey("tenants.code"))
    kind: Mapped[str] = mapped_column(String(12))  # zone | ward | locality
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("boundaries.id"), index=True)
    name_en: Mapped[str] = mapped_column(String(120))
    name_hi: Mapped[str] = mapped_column(String(120))
    names: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # pa, or, ...
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)  # romanised spellings
    lat: Mapped[float | None] = mapped_column(Float)
    lng: Mapped[float | None] = mapped_column(Float)
    # Optional polygon as [[lng, lat], ...]; point lookup prefers it over the nearest centre.
    polygon: Mapped[list[Any] | None] = mapped_column(JSON)

"""Short links (``/r/<code>``): short enough for an SMS, expiring, to one Samvad page."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core_api.db import Base, UTCDateTime, utcnow


class ShortLink(Base):
    """``code`` -> ``target`` until ``expires_at``: a stored file (``/files/<key>``, signed
    when opened), a payment page (``/pay/<token>``) or ``complaint:<number>`` (a status page
    ``/r/<code>`` renders); see ``core_api.links.service``. The code is random: it tells a
    stranger nothing and cannot be guessed from another."""

    __tablename__ = "short_links"
    __table_args__ = (
        Index("ix_short_links_expires", "expires_at"),
        Index("ix_short_links_target", "kind", "target"),  # an unexpired link is reused
    )

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    target: Mapped[str] = mapped_column(String(1000))
    kind: Mapped[str] = mapped_column(String(20))  # receipt | certificate | payment | complaint
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

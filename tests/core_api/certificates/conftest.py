"""Helpers for the births-and-deaths tests: fresh records and request actions."""

from __future__ import annotations

import re
from datetime import date, datetime
from itertools import count
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from core_api.certificates.models import Registration

REQUESTS = "/api/v1/certificate-requests"
_serial = count(900)


def today_ist() -> date:
    return datetime.now(ZoneInfo("Asia/Kolkata")).date()


def path_of(url: str) -> str:
    """The path and query of an absolute link (the test client serves every host)."""
    return re.sub(r"^https?://[^/]+", "", url)


class Bnd:
    """Creates records in the test database and drives certificate requests over HTTP."""

    def __init__(self, client: Any, session: Any) -> None:
        self.client = client
        self.session = session

    async def recent_registration(self, **values: Any) -> Registration:
        """A Dehradun record registered today: the first copy of its first request is free."""
        kind = values.get("kind", "birth")
        defaults = dict(
            registration_number=f"{kind[0].upper()}-DDN-2026-{next(_serial):05d}", kind=kind,
            tenant_code="uk.dehradun", name_en="Ishaan Rawat", name_hi="ईशान रावत",
            event_date=today_ist(), place_en="Coronation Hospital, Dehradun",
            place_hi="कोरोनेशन अस्पताल, देहरादून", gender="male", father_name="Vivek Rawat",
            mother_name="Pooja Rawat", registered_on=today_ist(),
        )
        record = Registration(**{**defaults, **values})
        self.session.add(record)
        await self.session.commit()
        return record

    @staticmethod
    def today() -> date:
        return today_ist()

    @staticmethod
    def path(url: str) -> str:
        return path_of(url)

    async def act(self, headers: dict[str, str], number: str, action: str,
                  comment: str | None = None) -> Any:
        return await self.client.post(f"{REQUESTS}/{number}/actions", headers=headers,
                                      json={"action": action, "comment": comment})


@pytest.fixture
def bnd(client: Any, session: Any) -> Bnd:
    return Bnd(client, session)

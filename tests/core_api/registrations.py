"""Birth registrations that certificate tests ask copies of."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from core_api.certificates.models import Registration


async def recent_birth(session, registration_number: str) -> str:
    """A Dehradun birth registered today (its first copy is free: no fee to pay first)."""
    today = datetime.now(ZoneInfo("Asia/Kolkata")).date()
    record = Registration(
        registration_number=registration_number, kind="birth", tenant_code="uk.dehradun",
        name_en="Ishaan Rawat", name_hi="ईशान रावत", event_date=today,
        place_en="Coronation Hospital, Dehradun", place_hi="कोरोनेशन अस्पताल, देहरादून",
        gender="male", father_name="Vivek Rawat", mother_name="Pooja Rawat",
        registered_on=today)
    session.add(record)
    await session.commit()
    return registration_number

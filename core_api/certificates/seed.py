"""Demo seed step: births and deaths registers from ``demo_records.yaml`` (upsert by number)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core_api.certificates.models import Registration

if TYPE_CHECKING:
    from core_api.seed.demo import SeedReport

RECORDS_FILE = Path(__file__).parent / "demo_records.yaml"


def demo_records() -> list[dict[str, Any]]:
    return yaml.safe_load(RECORDS_FILE.read_text(encoding="utf-8"))


async def seed_registrations(session: AsyncSession, report: SeedReport) -> None:
    """The demo birth and death records (SPEC §3), idempotently."""
    for item in demo_records():
        values = {key: value for key, value in item.items()
                  if key not in ("registration_number", "tenant")}
        values["tenant_code"] = item["tenant"]
        for key in ("event_date", "registered_on"):
            if not isinstance(values[key], date):
                values[key] = date.fromisoformat(str(values[key]))
        row = await session.scalar(select(Registration).where(
            Registration.registration_number == item["registration_number"]))
        if row is None:
            session.add(Registration(registration_number=item["registration_number"], **values))
        else:
            for name, value in values.items():
                setattr(row, name, value)
        report.add(f"{item['kind']} registrations")
    await session.flush()

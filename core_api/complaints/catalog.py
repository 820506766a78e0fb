"""The complaint-type catalogue: loaded from ``seed/data/complaint_types.yaml`` and read back.

Departments, categories and types are upserted by code; a type or category that left the
file is deactivated rather than deleted, because complaints keep pointing at it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import yaml
from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from core_api import reference
from core_api.complaints.models import ComplaintCategory, ComplaintType, Department

CATALOG_FILE = Path(__file__).resolve().parents[1] / "seed" / "data" / "complaint_types.yaml"
KEYWORD_LANGUAGES = ("en", "hi", "hinglish", "pa", "pa_latn", "or")


class Report(Protocol):
    def add(self, what: str, n: int = 1) -> None: ...


def _other_names(item: dict[str, Any]) -> dict[str, str]:
    """Names beyond the en/hi columns: {"pa": ..., "or": ...}."""
    return {key[5:]: value for key, value in item.items()
            if key.startswith("name_") and key[5:] not in ("en", "hi")}


class Named(Protocol):
    name_en: str
    name_hi: str
    names: dict[str, str]


def names_of(row: Named) -> dict[str, str]:
    """Every locale's name of a catalogue row (ORM or cached Core row): {"en", "hi", ...}."""
    return {"en": row.name_en, "hi": row.name_hi, **(row.names or {})}


async def _upsert(session: AsyncSession, model: type[Any], code: str,
                  values: dict[str, Any]) -> Any:
    row = await session.get(model, code)
    if row is None:
        row = model(code=code, **values)
        session.add(row)
    else:
        for name, value in values.items():
            setattr(row, name, value)
    return row


async def seed_complaint_types(session: AsyncSession, report: Report,
                               data: dict[str, Any] | None = None) -> None:
    """Upsert departments, categories and complaint types from the catalogue file."""
    if data is None:
        data = yaml.safe_load(CATALOG_FILE.read_text(encoding="utf-8"))
    for item in data["departments"]:
        await _upsert(session, Department, item["code"], {
            "name_en": item["name_en"], "name_hi": item["name_hi"], "names": _other_names(item),
        })
        report.add("departments")
    await session.flush()
    seen_categories: set[str] = set()
    seen_types: set[str] = set()
    for position, category in enumerate(data["categories"], start=1):
        await _upsert(session, ComplaintCategory, category["code"], {
            "name_en": category["name_en"], "name_hi": category["name_hi"],
            "names": _other_names(category), "position": position, "active": True,
        })
        seen_categories.add(category["code"])
        await session.flush()
        for type_position, subtype in enumerate(category["subtypes"], start=1):
            keywords = {lang: list(subtype.get(f"keywords_{lang}", []))
                        for lang in KEYWORD_LANGUAGES}
            await _upsert(session, ComplaintType, subtype["code"], {
                "category_code": category["code"], "department_code": subtype["department"],
                "sla_hours": int(subtype["sla_hours"]), "name_en": subtype["name_en"],
                "name_hi": subtype["name_hi"], "names": _other_names(subtype),
                "keywords": keywords, "position": type_position, "active": True,
            })
            seen_types.add(subtype["code"])
            report.add("complaint types")
    for row in await session.scalars(select(ComplaintType)):
        if row.code not in seen_types:
            row.active = False
    for category_row in await session.scalars(select(ComplaintCategory)):
        if category_row.code not in seen_categories:
            category_row.active = False
    await session.flush()
    reference.invalidate()


async def active_catalogue(
    session: AsyncSession,
) -> list[tuple[Row[Any], list[tuple[Row[Any], Row[Any]]]]]:
    """Active categories in menu order, each with its active types and their departments
    (from the cached catalogue: ``core_api.reference``)."""
    catalogue = await reference.catalogue(session)
    return [
        (category, [(complaint_type, catalogue.departments[complaint_type.department_code])
                    for complaint_type in catalogue.active_types(category.code)])
        for category in catalogue.categories if category.active
    ]

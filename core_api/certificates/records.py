"""Finding a registration by its number or by details, and masking what citizens see.

A details search needs the exact date of the event, a close spelling of the person's
name and a parent's (or, for a death, the spouse's) name: enough for a family to find
their own record, too much to harvest other people's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from rapidfuzz import fuzz
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core_api.certificates.models import DEATH, Registration
from core_api.tenants.search import fold

MAX_RESULTS = 3
NAME_THRESHOLD = 85.0
# Records sharing tenant, kind and date are few; this only bounds a pathological day.
_CANDIDATE_LIMIT = 500


def mask_name(name: str | None) -> str | None:
    """Keep the first letter of each word: "Ananya Sharma" -> "A***** S*****"."""
    if not name:
        return name
    return " ".join(word[0] + "*" * (len(word) - 1) for word in name.split())


def name_score(query: str, candidate: str | None, *, given_name_only: bool = False) -> float:
    """How closely ``query`` spells ``candidate`` (0-100), tolerant of order and typos.

    A middle name may be left out ("Mohan Bhatt" for "Mohan Lal Bhatt"); with
    ``given_name_only`` a single word may stand for the whole name ("Rajesh" for
    "Rajesh Sharma") but a surname alone never does.
    """
    q, c = fold(query).split(), fold(candidate or "").split()
    if not q or not c:
        return 0.0
    score = fuzz.token_sort_ratio(" ".join(q), " ".join(c))
    if len(q) >= 2 and len(c) > len(q):
        score = max(score, min(fuzz.ratio(q[0], c[0]), fuzz.ratio(q[-1], c[-1])))
    elif len(q) == 1 and given_name_only and len(c) > 1:
        score = max(score, fuzz.ratio(q[0], c[0]))
    return score


def _relatives(record: Registration) -> list[str | None]:
    names = [record.father_name, record.father_name_hi, record.mother_name,
             record.mother_name_hi]
    if record.kind == DEATH:
        names += [record.spouse_name, record.spouse_name_hi]
    return names


@dataclass(frozen=True)
class Found:
    record: Registration
    score: float


async def find_by_number(
    session: AsyncSession, tenant_code: str, registration_number: str
) -> Registration | None:
    """The record with exactly this number in this tenant (case and spaces ignored)."""
    number = "".join(registration_number.split()).upper()
    return await session.scalar(
        select(Registration).where(
            Registration.tenant_code == tenant_code,
            func.upper(Registration.registration_number) == number,
        )
    )


async def find_by_details(
    session: AsyncSession,
    tenant_code: str,
    *,
    kind: str,
    name: str,
    event_date: date,
    parent_name: str,
) -> list[Found]:
    """Records of ``kind`` on ``event_date`` whose name and a parent's name match, best first."""
    rows = await session.scalars(
        select(Registration)
        .where(
            Registration.tenant_code == tenant_code,
            Registration.kind == kind,
            Registration.event_date == event_date,
        )
        .order_by(Registration.id)
        .limit(_CANDIDATE_LIMIT)
    )
    found = []
    for record in rows:
        score = max(name_score(name, record.name_en), name_score(name, record.name_hi))
        if score < NAME_THRESHOLD:
            continue
        relative = max(name_score(parent_name, other, given_name_only=True)
                       for other in _relatives(record))
        if relative < NAME_THRESHOLD:
            continue
        found.append(Found(record, min(score, relative)))
    found.sort(key=lambda f: (-f.score, f.record.id))
    return found[:MAX_RESULTS]

"""Finding localities: fuzzy by name in any script or romanised spelling, and by point.

The name index is built per tenant from the database and kept in process memory
(boundaries change rarely); ``invalidate`` drops it after a change.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz, process
from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from core_api import reference
from core_api.tenants.models import Boundary

EARTH_RADIUS_KM = 6371.0
MAX_POINT_DISTANCE_KM = 8.0  # a pin further than this from every locality centre matches none

_VOWEL_RUNS = re.compile(r"([aeiou])\1+")
# Common romanisation variants of Hindi place names: ee/i, oo/u, w/v, ph/f, z/j, sh/s.
_ROMAN_FOLDS = (("ee", "i"), ("oo", "u"), ("w", "v"), ("ph", "f"), ("z", "j"), ("sh", "s"),
                ("ou", "u"), ("ck", "k"), ("q", "k"))
# Nukta (ज़/ज, ड़/ड) in Devanagari, Gurmukhi and Odia: people type it or not.
_NUKTAS = frozenset("\u093c\u0a3c\u0b3c")


def _dropped_mark(char: str) -> bool:
    """Marks a search ignores: nuktas, and accents on Latin letters (Dehrad\u016bn)."""
    return char in _NUKTAS or "\u0300" <= char <= "\u036f"


def _word_char(char: str) -> bool:
    # Vowel signs and viramas are marks (Mn/Mc), not letters: they belong inside the word.
    return char.isalnum() or unicodedata.category(char) in ("Mn", "Mc")


def fold(text: str) -> str:
    """A search key: lower case, no punctuation or nukta, romanisation variants folded."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(c for c in unicodedata.normalize("NFD", text) if not _dropped_mark(c))
    text = unicodedata.normalize("NFC", text)
    text = "".join(c if _word_char(c) else " " for c in text)
    if text.isascii():
        for old, new in _ROMAN_FOLDS:
            text = text.replace(old, new)
        text = _VOWEL_RUNS.sub(r"\1", text)
    return " ".join(text.split())


@dataclass(frozen=True)
class Match:
    boundary_id: int
    score: float
    matched: str


# Keyed by database and tenant: one process may talk to several databases (tests do).
_index: dict[tuple[str, str], tuple[list[str], list[int]]] = {}


def invalidate() -> None:
    """Forget the cached name indexes and boundary rows (after boundaries change)."""
    _index.clear()
    reference.invalidate()


async def _names(session: AsyncSession, tenant_code: str | None) -> tuple[list[str], list[int]]:
    key = (str(getattr(session.bind, "url", "")), tenant_code or "*")
    if key not in _index:
        query = select(Boundary.id, Boundary.name_en, Boundary.name_hi, Boundary.names,
                       Boundary.aliases).where(Boundary.kind == "locality")
        if tenant_code:
            query = query.where(Boundary.tenant_code == tenant_code)
        keys: list[str] = []
        ids: list[int] = []
        for row in await session.execute(query):
            spellings = {row.name_en, row.name_hi, *row.names.values(), *row.aliases}
            for spelling in spellings:
                folded = fold(spelling)
                if folded:
                    keys.append(folded)
                    ids.append(row.id)
        if not keys:  # an unknown tenant code: answer, but do not let callers grow the cache
            return keys, ids
        _index[key] = (keys, ids)
    return _index[key]


async def search_localities(
    session: AsyncSession, query: str, tenant_code: str | None, limit: int = 5,
    cutoff: float = 60.0,
) -> list[Match]:
    """Localities whose name, alias or other-script name resembles ``query``, best first."""
    folded = fold(query)
    if not folded:
        return []
    keys, ids = await _names(session, tenant_code)
    best: dict[int, Match] = {}
    for key, score, index in process.extract(
        folded, keys, scorer=fuzz.WRatio, limit=limit * 6, score_cutoff=cutoff
    ):
        # Prefer whole-name similarity over partial hits so "raipur" ranks Raipur over Rajpur.
        score = 0.6 * score + 0.4 * fuzz.ratio(folded, key)
        boundary_id = ids[index]
        if boundary_id not in best or best[boundary_id].score < score:
            best[boundary_id] = Match(boundary_id, round(score, 1), key)
    return sorted(best.values(), key=lambda m: -m.score)[:limit]


def haversine_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def point_in_polygon(lat: float, lng: float, polygon: list[list[float]]) -> bool:
    """Ray casting over [[lng, lat], ...]."""
    inside = False
    j = len(polygon) - 1
    for i in range(len(polygon)):
        xi, yi = polygon[i]
        xj, yj = polygon[j]
        if (yi > lat) != (yj > lat) and lng < (xj - xi) * (lat - yi) / ((yj - yi) or 1e-12) + xi:
            inside = not inside
        j = i
    return inside


async def locality_at(
    session: AsyncSession, lat: float, lng: float, tenant_code: str | None = None
) -> tuple[Row[Any], float] | None:
    """The locality (a Core row) containing the point (polygon) or with the nearest
    centre, and km away."""
    table = Boundary.__table__
    query = select(table).where(table.c.kind == "locality", table.c.lat.is_not(None))
    if tenant_code:
        query = query.where(table.c.tenant_code == tenant_code)
    else:
        # Narrow to a box of about MAX_POINT_DISTANCE_KM around the point before measuring.
        delta = MAX_POINT_DISTANCE_KM / 111.0
        query = query.where(table.c.lat.between(lat - delta, lat + delta),
                            table.c.lng.between(lng - 2 * delta, lng + 2 * delta))
    connection = await session.connection()
    candidates = list(await connection.execute(query))
    for boundary in candidates:
        if boundary.polygon and point_in_polygon(lat, lng, boundary.polygon):
            return boundary, 0.0
    best: tuple[Row[Any], float] | None = None
    for boundary in candidates:
        distance = haversine_km(lat, lng, boundary.lat or 0.0, boundary.lng or 0.0)
        if best is None or distance < best[1]:
            best = (boundary, distance)
    if best is None or best[1] > MAX_POINT_DISTANCE_KM:
        return None
    return best

"""Understanding free text: the NLU interface and the built-in keyword/fuzzy matcher.

The built-in matcher is the default and the fallback when Rasa is absent or slow. It
knows intents by the keywords of every locale (``locales/<code>/nlu.yaml``: English,
Hindi in Devanagari and romanised, Punjabi, Odia) and complaint types by the names and
keywords the core API serves, and picks the best fuzzy match (rapidfuzz).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Protocol

import yaml
from rapidfuzz import fuzz

from bot.i18n import locale_codes, locales_dir

KEYWORDS_FILE = "nlu.yaml"  # in each locale's folder, beside locale.yaml
INTENT_THRESHOLD = 80.0
TYPE_THRESHOLD = 84.0
# Intents a named complaint type outweighs: "kachra nahi utha" is a complaint, not a "no".
WEAK_INTENTS = frozenset({None, "file_complaint", "affirm", "deny", "greet"})

# "near rajpur road", "rajpur road ke paas", "राजपुर के पास", "in clement town"
_LOCALITY_AFTER = re.compile(r"\b(?:near|at|in|opposite|behind)\s+(.+)$")
_LOCALITY_BEFORE = re.compile(
    r"^(?:.*\s)?(\S+(?:\s\S+)?)\s+(?:ke paas|ke pas|mein|me|में|के पास|पर)\b"
)


def normalize(text: str) -> str:
    """Lower case, punctuation removed, whitespace collapsed, NFC.

    Vowel signs and viramas (Unicode marks) are letters' parts in Indic scripts: kept.
    """
    text = unicodedata.normalize("NFC", text).casefold()
    kept = "".join(
        c if c.isalnum() or c.isspace() or unicodedata.category(c) in ("Mn", "Mc") else " "
        for c in text
    )
    return " ".join(kept.split())


@dataclass(frozen=True)
class Understanding:
    intent: str | None = None
    confidence: float = 0.0
    entities: dict[str, str] = field(default_factory=dict)  # complaint_type, locality
    source: str = "builtin"
    # A middling guess: ask "did you mean ...?" before acting on it (set by the Rasa adapter).
    confirm: bool = False


class NLU(Protocol):
    async def understand(self, text: str, locale: str | None) -> Understanding: ...


def locale_keywords(code: str, directory: Path | None = None) -> dict[str, list[str]]:
    """Intent -> phrases of one locale (``intents`` and, for Hindi, ``romanised``)."""
    path = (directory or locales_dir()) / code / KEYWORDS_FILE
    data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None
    merged: dict[str, list[str]] = {}
    for section in ("intents", "romanised"):
        for intent, phrases in ((data or {}).get(section) or {}).items():
            merged.setdefault(intent, []).extend(phrases or [])
    return merged


def intent_keywords() -> dict[str, list[str]]:
    """Intent -> normalised phrases in every registered locale."""
    return _intent_keywords(locales_dir())


@cache
def _intent_keywords(directory: Path) -> dict[str, list[str]]:
    phrases: dict[str, set[str]] = {}
    for code in locale_codes(directory):
        for intent, found in locale_keywords(code, directory).items():
            phrases.setdefault(intent, set()).update(normalize(p) for p in found)
    return {intent: sorted(found) for intent, found in phrases.items()}


@lru_cache(maxsize=16384)
def _whole_word(phrase: str) -> re.Pattern[str]:
    """``phrase`` as a whole-word pattern, compiled once: the keyword lists hold more
    phrases than ``re``'s own cache (512), so without this every turn recompiled them all
    (the benchmark's profile: most of a free-text turn's CPU)."""
    return re.compile(rf"(?<!\w){re.escape(phrase)}(?!\w)")


def _score(text: str, phrase: str) -> float:
    """How well ``phrase`` occurs in ``text``: whole-word hits score 100, near-misses less."""
    if not phrase:
        return 0.0
    if _whole_word(phrase).search(text):
        return 100.0
    if len(phrase) < 4:
        return 0.0
    if len(text) >= len(phrase):
        return fuzz.partial_ratio(phrase, text)
    return fuzz.ratio(phrase, text)


def best_match(
    text: str, candidates: Iterable[tuple[str, Sequence[str]]]
) -> tuple[str | None, float]:
    """The candidate id whose phrases best match ``text`` (already normalised)."""
    best_id, best_score, best_len = None, 0.0, 0
    for candidate_id, phrases in candidates:
        for phrase in phrases:
            score = _score(text, phrase)
            # Longer phrases are more specific: "my complaints" beats "complaint" on a tie.
            if score > best_score or (score == best_score and score and len(phrase) > best_len):
                best_id, best_score, best_len = candidate_id, score, len(phrase)
    return best_id, best_score


# "near my house" names no place we can look up.
_NOT_PLACES = frozenset({"my", "home", "house", "here", "me", "mere", "mera", "ghar", "yahan",
                         "yaha", "idhar", "the", "our", "hamare", "घर", "मेरे", "यहाँ", "यहां",
                         "हमारे", "इधर"})


def locality_hint(text: str) -> str | None:
    """The place named in a request ("... near rajpur road" -> "rajpur road")."""
    for pattern in (_LOCALITY_AFTER, _LOCALITY_BEFORE):
        match = pattern.search(text)
        if match:
            place = match.group(1).strip()
            if place and not set(place.split()) <= _NOT_PLACES:
                return place
    return None


class KeywordMatcher:
    """The built-in NLU: intent keywords plus complaint-type names and keywords."""

    def __init__(self, complaint_types: Sequence[dict[str, Any]] = ()) -> None:
        self.set_complaint_types(complaint_types)

    def set_complaint_types(self, complaint_types: Sequence[dict[str, Any]]) -> None:
        """Complaint types as the core API lists them (code, names, keywords)."""
        entries = []
        for item in complaint_types:
            phrases: set[str] = set()
            for name in (item.get("names") or {}).values():
                phrases.add(normalize(name))
            for values in (item.get("keywords") or {}).values():
                phrases.update(normalize(v) for v in values)
            entries.append((item["code"], sorted(p for p in phrases if p)))
        self._types = entries

    def complaint_type(self, text: str) -> tuple[str | None, float]:
        code, score = best_match(normalize(text), self._types)
        return (code, score) if score >= TYPE_THRESHOLD else (None, score)

    async def understand(self, text: str, locale: str | None) -> Understanding:
        return self.understand_now(text, locale)

    def understand_now(self, text: str, locale: str | None) -> Understanding:
        normal = normalize(text)
        if not normal:
            return Understanding()
        entities: dict[str, str] = {}
        type_code, type_score = self.complaint_type(normal)
        if type_code:
            entities["complaint_type"] = type_code
            place = locality_hint(normal)
            if place:
                entities["locality"] = place
        intent, score = best_match(normal, intent_keywords().items())
        if type_code and (intent in WEAK_INTENTS or score < type_score):
            return Understanding("file_complaint", type_score / 100, entities)
        if intent and score >= INTENT_THRESHOLD:
            return Understanding(intent, score / 100, entities)
        return Understanding(None, score / 100, entities)

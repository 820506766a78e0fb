"""Understanding free text: the NLU interface and the built-in keyword/fuzzy matcher.

The built-in matcher is the default and the fallback when Rasa is absent or slow. It
knows intents by the keywords of every locale (``locales/<code>/nlu.yaml``: English,
Hindi and Punjabi in their scripts and romanised, Odia) and complaint types by the names
and keywords the core API serves (in the same languages), and picks the best match: whole
words before near-misses (rapidfuzz), the longest phrase found, the more specific intent
(tracking over filing, receipts over paying). A yes or a no is read only in a message
shaped like an answer, never from a negation inside a sentence.
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
from rapidfuzz import fuzz, process

from bot.i18n import locale_codes, locales_dir

KEYWORDS_FILE = "nlu.yaml"  # in each locale's folder, beside locale.yaml
INTENT_THRESHOLD = 80.0
TYPE_THRESHOLD = 84.0
SCATTERED = 97.0  # a phrase's words all there, apart: "toilet bahut ganda"
SUFFIXED = 96.0  # a phrase beginning a longer word: "ଓଡ଼ିଆରେ" (in Odia), "bills"
FUZZY_MIN = 6  # shorter phrases match only as words: "other" is not "there"
# Intents a named complaint type outweighs: "kachra nahi utha" is a complaint, not a "no";
# "dead dog near the bus stop" is a complaint, not a STOP.
WEAK_INTENTS = frozenset({None, "file_complaint", "affirm", "deny", "greet", "help", "stop"})
# Answers to a yes/no question: read only in a short message that begins with one.
YES_NO = ("affirm", "deny")
YES_NO_MAX_WORDS = 4
HONORIFICS = frozenset({"ji", "जी", "ਜੀ", "ଆଜ୍ଞା"})  # may come first: "ji haan", "जी नहीं"
# Where several intents match, the more specific wins (any other intent: SPECIFIC).
SPECIFICITY = {"greet": 0, "affirm": 0, "deny": 0, "help": 1, "file_complaint": 1,
               "pay_bill": 2}
SPECIFIC = 3

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


# Indic writing systems by Unicode block; anything else is read as Latin (English, Hinglish,
# romanised Punjabi).
SCRIPT_BLOCKS = {"devanagari": (0x0900, 0x097F), "gurmukhi": (0x0A00, 0x0A7F),
                 "odia": (0x0B00, 0x0B7F)}
LATIN = "latin"


def script_of(text: str) -> str:
    """The writing system most of ``text``'s letters are in."""
    counts = dict.fromkeys(SCRIPT_BLOCKS, 0)
    latin = 0
    for char in text:
        code = ord(char)
        for script, (low, high) in SCRIPT_BLOCKS.items():
            if low <= code <= high:
                counts[script] += 1
                break
        else:
            latin += char.isalpha()
    script = max(counts, key=counts.__getitem__)
    return script if counts[script] > latin else LATIN


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
    """Intent -> phrases of one locale (``intents`` and ``romanised``: Hinglish, Punjabi)."""
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
def _word_start(phrase: str) -> re.Pattern[str]:
    """``phrase`` at the start of a word, compiled once: the keyword lists hold more phrases
    than ``re``'s own cache (512), so without this every turn recompiled them all (the
    benchmark's profile: most of a free-text turn's CPU). Group 1 is what follows it in the
    same word. Text is normalised, so words are separated by single spaces; a vowel sign
    is part of its word (``\\w`` would see a word boundary before ੀ or ି)."""
    return re.compile(rf"(?<!\S){re.escape(phrase)}(\S*)")


def _score(text: str, phrase: str) -> float:
    """How well ``phrase`` occurs in ``text``: a whole-word hit scores 100, its words all
    there but apart ("toilet bahut ganda" for "toilet ganda") 97, the phrase beginning a
    longer word (a suffix: "ଓଡ଼ିଆରେ", "complaints") 96; a near-miss its fuzzy score: a short
    phrase against single words only ("helo" is "hello", "there" is not "other"), a longer
    one anywhere."""
    if not phrase:
        return 0.0
    best = 0.0
    if phrase in text:  # a cheap test first: most phrases are nowhere in the text
        for match in _word_start(phrase).finditer(text):
            if not match.group(1):
                return 100.0
            best = SUFFIXED
    words = _words(phrase)
    if len(words) > 1 and all(word in text for word in words) and all(
            _has_word(text, word) for word in words):
        return SCATTERED
    if best or len(phrase) < 4:
        return best
    if len(phrase) < FUZZY_MIN:
        found = process.extractOne(phrase, _words(text), scorer=fuzz.ratio)
        return found[1] if found else 0.0
    if len(text) >= len(phrase):
        return fuzz.partial_ratio(phrase, text)
    return fuzz.ratio(phrase, text)


@lru_cache(maxsize=16384)
def _words(text: str) -> tuple[str, ...]:
    """The words of normalised text (phrases recur every turn: split once)."""
    return tuple(text.split())


def _has_word(text: str, word: str) -> bool:
    """``word`` is a word of ``text``, or (from four letters) begins one."""
    match = _word_start(word).search(text)
    return match is not None and (not match.group(1) or len(word) >= 4)


def _rank(found: tuple[float, int]) -> tuple[bool, int, float]:
    """Word-level hits first, and among them the longest phrase (the most specific:
    "toilet no water" over "no water"); near-misses by their score."""
    score, length = found
    word = score >= SUFFIXED
    return word, length if word else 0, score


def phrase_scores(
    text: str, candidates: Iterable[tuple[str, Sequence[str]]]
) -> dict[str, tuple[float, int]]:
    """Each candidate's best (score, phrase length) in ``text`` (already normalised)."""
    found: dict[str, tuple[float, int]] = {}
    for candidate_id, phrases in candidates:
        for phrase in phrases:
            hit = (_score(text, phrase), len(phrase))
            if hit[0] and (candidate_id not in found or _rank(hit) > _rank(found[candidate_id])):
                found[candidate_id] = hit
    return found


def best_match(
    text: str, candidates: Iterable[tuple[str, Sequence[str]]]
) -> tuple[str | None, float]:
    """The candidate id whose phrases best match ``text`` (already normalised)."""
    found = phrase_scores(text, candidates)
    if not found:
        return None, 0.0
    best = max(found, key=lambda candidate: _rank(found[candidate]))
    return best, found[best][0]


def is_yes_no_answer(normal: str) -> bool:
    """True when ``normal`` (normalised) reads as an answer to a yes/no question: a few words
    beginning with a yes or a no ("haan ji", "nahi ye galat hai", "जी नहीं"). A negation
    inside a sentence ("ਲਾਈਟ ਨਹੀਂ ਜਗਦੀ", "light is not working") is no answer."""
    words = normal.split()
    if not words or len(words) > YES_NO_MAX_WORDS:
        return False
    heads = [normal]
    if words[0] in HONORIFICS and len(words) > 1:
        heads.append(" ".join(words[1:]))
    keywords = intent_keywords()
    return any(_begins_with(head, phrase)
               for intent in YES_NO for phrase in keywords.get(intent, ()) for head in heads)


def _begins_with(text: str, phrase: str) -> bool:
    """True when ``text`` begins with the whole words of ``phrase``."""
    match = _word_start(phrase).match(text)
    return match is not None and not match.group(1)


def pick_intent(scores: dict[str, tuple[float, int]]) -> tuple[str | None, float]:
    """The intent to act on among the intents' best scores: whole-word hits first, then the
    more specific intent ("complaint status" tracks, "payment receipt" is a receipt,
    "hello, pay my bill" pays), then the better and longer match."""
    sure = {intent: found for intent, found in scores.items() if found[0] >= INTENT_THRESHOLD}
    if not sure:
        return None, max((found[0] for found in scores.values()), default=0.0)
    intent = max(sure, key=lambda i: (sure[i][0] >= SUFFIXED, SPECIFICITY.get(i, SPECIFIC),
                                      _rank(sure[i])))
    return intent, sure[intent][0]


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
        type_code, type_score = self.complaint_type(normal)
        scores = phrase_scores(normal, intent_keywords().items())
        if not is_yes_no_answer(normal):
            for answer in YES_NO:
                scores.pop(answer, None)
        intent, score = pick_intent(scores)
        if type_code and (intent in WEAK_INTENTS or score < type_score):
            entities = {"complaint_type": type_code}
            place = locality_hint(normal)
            if place:
                entities["locality"] = place
            return Understanding("file_complaint", type_score / 100, entities)
        if intent and score >= INTENT_THRESHOLD:
            return Understanding(intent, score / 100)
        return Understanding(None, score / 100)

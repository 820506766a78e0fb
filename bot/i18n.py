"""Message catalogs, the locale registry and locale-aware formatting.

Every user-visible sentence has a symbolic message id (``menu.prompt``) and lives in
gettext catalogs ``locales/<locale>/LC_MESSAGES/samvad.po``; ``en_IN`` is the source.
Compiled ``.mo`` files are used when present and current, else the ``.po`` is read.
Amounts and dates are formatted by babel for the citizen's locale in Asia/Kolkata.

The locales themselves are data: a folder ``locales/<code>/`` with a ``locale.yaml``
(its own name, English name, language code, script, place in the language menus and the
words that tell it from other languages of its script) is a locale. Everything that lists
locales (menus, API validation, the simulator, the CLI, the checks) reads this registry,
so adding a language adds files and edits no list (``locales/README.md``).
``SAMVAD_LOCALES_DIR`` points the registry and the catalogs at another folder.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from string import Formatter
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from babel.dates import format_date, format_time
from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal
from pydantic import BaseModel, ConfigDict, Field, ValidationError

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"  # the bundled locales
LOCALES_DIR_ENV = "SAMVAD_LOCALES_DIR"
REGISTRY_FILE = "locale.yaml"
DOMAIN = "samvad"
SOURCE_LOCALE = "en_IN"
TIMEZONE = ZoneInfo("Asia/Kolkata")

# The Unicode blocks by which a first message's script is recognised. Latin has none on
# purpose: English and romanised Hindi share it, so a Latin message suggests no locale.
SCRIPTS: dict[str, str | None] = {
    "Latin": None,
    "Devanagari": "\u0900-\u097F",
    "Bengali": "\u0980-\u09FF",
    "Gurmukhi": "\u0A00-\u0A7F",
    "Gujarati": "\u0A80-\u0AFF",
    "Odia": "\u0B00-\u0B7F",
    "Tamil": "\u0B80-\u0BFF",
    "Telugu": "\u0C00-\u0C7F",
    "Kannada": "\u0C80-\u0CFF",
    "Malayalam": "\u0D00-\u0D7F",
}
_SCRIPT_PATTERNS = {script: re.compile(f"[{block}]") for script, block in SCRIPTS.items()
                    if block is not None}


class LocaleError(ValueError):
    """A ``locale.yaml`` that does not describe a locale Samvad can serve."""


class _LocaleFile(BaseModel):
    """The fields of ``locales/<code>/locale.yaml`` (see locales/README.md)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)  # its own name: the language menus show it
    english_name: str = Field(min_length=1)  # for the simulator, the CLI and the docs
    language: str = Field(pattern=r"^[a-z]{2,3}$")  # ISO 639: keys of {"en": .., "hi": ..}
    script: str
    order: int  # its place in the language menus
    words: list[str] = Field(default_factory=list)  # tell it from others of its script
    # What people type to ask for this language, in any script ("hindi me", "ਹਿੰਦੀ").
    names: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class Locale:
    """One locale of the registry."""

    code: str  # hi_IN: the folder's name
    name: str  # हिंदी
    english_name: str  # Hindi
    language: str  # hi
    script: str  # Devanagari
    order: int
    words: frozenset[str]  # normalised as messages are (NFC, casefolded)
    names: frozenset[str]  # its own and English names and what people type for it


def locales_dir() -> Path:
    """The folder the registry and the catalogs are read from."""
    return _path(os.environ.get(LOCALES_DIR_ENV) or str(LOCALES_DIR))


@cache
def _path(folder: str) -> Path:
    """One ``Path`` per folder: asked for on every message looked up, and the caches
    keyed by it hash it (a new ``Path`` parses and hashes its parts again)."""
    return Path(folder)


def _read_locale(path: Path) -> Locale:
    try:
        entry = _LocaleFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (ValidationError, yaml.YAMLError) as exc:
        raise LocaleError(f"{path}: {exc}") from exc
    if entry.script not in SCRIPTS:
        raise LocaleError(f"{path}: script {entry.script!r} is not one of {sorted(SCRIPTS)}")
    names = (entry.name, entry.english_name, *entry.names)
    return Locale(path.parent.name, entry.name, entry.english_name, entry.language,
                  entry.script, entry.order,
                  frozenset(_normal(word) for word in entry.words if word.strip()),
                  frozenset(_normal(name) for name in names if name.strip()))


@cache
def _registry(directory: Path) -> tuple[Locale, ...]:
    found = sorted((_read_locale(path) for path in directory.glob(f"*/{REGISTRY_FILE}")),
                   key=lambda locale: (locale.order, locale.code))
    return tuple(found)


def locales(directory: Path | None = None) -> tuple[Locale, ...]:
    """Every registered locale, in the order of the language menus."""
    return _registry(directory or locales_dir())


def locale_codes(directory: Path | None = None) -> tuple[str, ...]:
    """The registered locale codes (en_IN, hi_IN, ...), in menu order."""
    return tuple(locale.code for locale in locales(directory))


def locale_of(code: str | None) -> Locale | None:
    """The registered locale ``code`` names, if any."""
    return next((locale for locale in locales() if locale.code == code), None)


def language_menu() -> list[dict[str, str]]:
    """The language question's options: ``{i: code, l: its own name}`` in menu order."""
    return [{"i": locale.code, "l": locale.name} for locale in locales()]


_FIELDS = Formatter()


def placeholders(text: str) -> set[str]:
    """The ``{name}`` placeholders of a message."""
    return {name for _, name, _, _ in _FIELDS.parse(text) if name}


def catalog_path(locale: str, suffix: str = ".po", directory: Path | None = None) -> Path:
    return (directory or locales_dir()) / locale / "LC_MESSAGES" / f"{DOMAIN}{suffix}"


def load_catalog(locale: str) -> dict[str, str]:
    """All translated messages of ``locale`` (empty strings dropped)."""
    return _load_catalog(locales_dir(), locale)


@cache
def _load_catalog(directory: Path, locale: str) -> dict[str, str]:
    po, mo = catalog_path(locale, directory=directory), catalog_path(locale, ".mo", directory)
    if not po.exists() and not mo.exists():
        return {}
    catalog: Catalog
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as handle:
            catalog = read_mo(handle)
    else:
        with po.open("rb") as handle:
            catalog = read_po(handle, locale=locale)
    result: dict[str, str] = {}
    for message in catalog:
        if message.id and isinstance(message.id, str) and isinstance(message.string, str):
            if message.string:
                result[message.id] = message.string
    return result


def available_locales() -> tuple[str, ...]:
    """Registered locales that have a catalog on disk, in menu order."""
    return tuple(code for code in locale_codes() if load_catalog(code))


def has_message(msgid: str, locale: str) -> bool:
    return msgid in load_catalog(locale)


def translate(locale: str | None, msgid: str, **params: Any) -> str:
    """The message in ``locale`` (falling back to English), with ``params`` filled in."""
    text = load_catalog(locale or SOURCE_LOCALE).get(msgid)
    if text is None:
        text = load_catalog(SOURCE_LOCALE).get(msgid, msgid)
    if params:
        try:
            return text.format_map(_Params(params))
        except (ValueError, IndexError):
            return text
    return text


class _Params(dict[str, Any]):
    """format_map mapping that leaves unknown placeholders visible instead of failing."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _normal(word: str) -> str:
    return unicodedata.normalize("NFC", word.strip()).casefold()


def words(locale: str | None, msgid: str) -> list[str]:
    """A comma-separated word list message (global words, yes/no), in locale and English."""
    found: list[str] = []
    for loc in dict.fromkeys((locale or SOURCE_LOCALE, SOURCE_LOCALE)):
        text = load_catalog(loc).get(msgid, "")
        found.extend(_normal(w) for w in text.split(",") if w.strip())
    return found


# The words that work at any question, whatever the language (``words.<kind>`` messages).
GLOBAL_WORDS = ("menu", "back", "help", "language", "stop", "start")


def global_word(text: str) -> str | None:
    """Which global word (``menu``, ``back``, ``stop``, ...) a whole message is, in any
    registered locale: a Hindi word typed in an English conversation ("भाषा", "रुकें")
    works as well as the conversation's own. None when it is none of them."""
    return _global_words(locales_dir()).get(_normal(text))


@cache
def _global_words(directory: Path) -> dict[str, str]:
    """Every locale's global words -> their kind; a word two kinds claim (a catalog
    mistake, caught by the tests) keeps the first, in menu order."""
    found: dict[str, str] = {}
    for locale in locales(directory):
        catalog = _load_catalog(directory, locale.code)
        for kind in GLOBAL_WORDS:
            for word in catalog.get(f"words.{kind}", "").split(","):
                if word.strip():
                    found.setdefault(_normal(word), kind)
    return found


def start_words() -> str:
    """The first START word of every locale ("START / शुरू / ..."), for the opt-out
    confirmation: whoever reads it later, in whatever language, finds the way back."""
    firsts = (load_catalog(code).get("words.start", "").split(",")[0].strip()
              for code in locale_codes())
    return " / ".join(dict.fromkeys(word.upper() for word in firsts if word))


def language_named(text: str) -> str | None:
    """The locale a whole message names ("hindi", "हिंदी में", "ਪੰਜਾਬੀ", "odia"), if any."""
    normal = _normal(text)
    return next((locale.code for locale in locales() if normal in locale.names), None)


def lang(locale: str | None) -> str:
    """The language code of a locale (hi for hi_IN; en when unknown)."""
    found = locale_of(locale or SOURCE_LOCALE)
    return found.language if found else "en"


def babel_locale(locale: str | None) -> str:
    return locale or SOURCE_LOCALE


def format_amount(amount: Decimal | str | float, locale: str | None) -> str:
    """₹1,23,456.00 in en_IN; the locale's own format elsewhere."""
    # Indian grouping (lakh, crore) everywhere: babel's Odia data groups by thousands.
    return format_currency(Decimal(str(amount)), "INR", format="¤#,##,##0.00",
                           locale=babel_locale(locale), currency_digits=False)


def format_number(value: int | Decimal, locale: str | None) -> str:
    return format_decimal(value, locale=babel_locale(locale))


def format_day(value: date | datetime | str, locale: str | None) -> str:
    """A date as the locale writes it, day first (12 Apr 2019 / 12 अप्रैल 2019).

    The pattern is our catalogs' ``format.day`` (babel's syntax), not CLDR's medium date:
    CLDR clips Hindi and Punjabi months (दिस॰, ਦਸੰ) and puts the month first in Odia
    (ଡିସେମ୍ବର 7, 2026); the month names themselves come from babel.
    """
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        value = value.astimezone(TIMEZONE).date() if value.tzinfo else value.date()
    return format_date(value, format=translate(locale, "format.day"),
                       locale=babel_locale(locale))


def format_moment(value: datetime | str, locale: str | None) -> str:
    """A point in time in Asia/Kolkata (12 Apr 2019, 4:05 pm).

    The day and the clock come from babel in our patterns (the day as ``format_day``
    writes it); the am/pm marker comes from our catalogs
    (``format.time_am``/``format.time_pm``): it is the product's choice, not CLDR's, whose
    case and wording change between babel releases (2.19 writes en_IN "PM", 2.18 "pm").
    """
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    local = value.astimezone(TIMEZONE)
    day = format_day(local.date(), locale)
    clock = format_time(local.time(), format="h:mm", locale=babel_locale(locale))
    half = "format.time_pm" if local.hour >= 12 else "format.time_am"
    return f"{day}, {translate(locale, half, time=clock)}"


def guess_locale(text: str | None) -> str | None:
    """The locale a text's script suggests (Gurmukhi -> pa_IN); None for Latin or digits.

    The first script found in the text, in menu order, decides. When several locales share
    it (Hindi and Marathi in Devanagari) the one whose characteristic words the text uses
    most wins, and the first in menu order on a tie: with Hindi alone, Devanagari is Hindi.
    """
    if not text:
        return None
    registered = locales()
    for locale in registered:
        pattern = _SCRIPT_PATTERNS.get(locale.script)
        if pattern is not None and pattern.search(text):
            shared = [other for other in registered if other.script == locale.script]
            if len(shared) == 1:
                return locale.code
            tokens = set(_tokens(text))
            return max(shared, key=lambda other: len(tokens & other.words)).code
    return None


def _tokens(text: str) -> list[str]:
    """The words of a text: runs of letters and their vowel signs, normalised."""
    text = unicodedata.normalize("NFC", text)
    kept = "".join(ch if unicodedata.category(ch)[0] in "LM" else " " for ch in text)
    return kept.casefold().split()

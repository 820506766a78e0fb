"""Names and option labels in the reader's language, cut to the room a channel gives them.

Several flows' actions show the same things (a complaint type, a city, a status, a staff
note) in option rows and details; they word and shorten them here, so that one complaint
reads the same in every flow. Pure functions: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.channel_kinds import capabilities, channel_kinds
from bot.i18n import SOURCE_LOCALE, available_locales, has_message, lang, translate

# A label every channel's list row shows whole (the narrowest row title of all kinds).
ROW_TITLE_MAX = min(capabilities(kind).list_row_title_max for kind in channel_kinds())
COMPLAINT_NOTE_MAX = 80  # the latest staff note, shortened for chat and SMS


def yes_no(value: object) -> str:
    """A truth as the ``yes``/``no`` slot value branches compare."""
    return "yes" if value else "no"


def local_name(names: dict[str, str] | None, locale: str | None) -> str:
    """A names dict (``{"en": .., "hi": ..}``) in the reader's language, else English."""
    names = names or {}
    return names.get(lang(locale)) or names.get("en") or next(iter(names.values()), "")


def short_tenant_name(tenant: dict[str, Any], locale: str | None) -> str:
    """The ULB's short name in the reader's language (English when it has none)."""
    code = lang(locale)
    english = tenant.get("short_en") or tenant.get("name_en") or tenant["code"]
    if code == "en":
        return english
    if code == "hi":
        return tenant.get("short_hi") or tenant.get("name_hi") or english
    return (tenant.get("short_names") or {}).get(code) or english


def every_name(*sources: Any) -> list[str]:
    """The distinct names in ``sources`` (strings, lists of them, ``{"en": .., "hi": ..}``
    dicts), in order: all that a citizen may type to mean one thing, whatever the language
    of the question (an option row keeps them under ``a``, ``options_from: {names: a}``)."""
    found: dict[str, None] = {}
    for source in sources:
        if isinstance(source, dict):
            source = list(source.values())
        for name in [source] if isinstance(source, str) else source or ():
            if isinstance(name, str) and name.strip():
                found.setdefault(name.strip(), None)
    return list(found)


def tenant_names(tenant: dict[str, Any]) -> list[str]:
    """Every name of a ULB: short and full, in each language it has."""
    return every_name(tenant.get("short_en"), tenant.get("name_en"), tenant.get("short_hi"),
                      tenant.get("name_hi"), tenant.get("short_names"), tenant.get("names"))


def status_name(status: str, form: str, locale: str | None) -> str:
    """A PGR state in words: ``form`` ``short`` (option labels) or ``status`` (details)."""
    msgid = f"track_complaint.{form}.{status}"
    return translate(locale, msgid) if has_message(msgid, SOURCE_LOCALE) else status


def shorten(text: str, room: int) -> str:
    """``text`` within ``room`` characters, cut at a word where possible, with "…"."""
    if len(text) <= room:
        return text
    cut = text[: max(room - 1, 1)]
    if not text[len(cut)].isspace() and " " in cut.strip():  # the cut is inside a word
        whole_words = cut.rsplit(" ", 1)[0]
        if len(whole_words) * 2 >= len(cut):  # cut at a word unless that loses too much
            cut = whole_words
    return cut.rstrip(" ,.-") + "…"


def latest_note(history: list[dict[str, Any]]) -> str:
    """The newest comment in the complaint's history (a staff note or a reason), short."""
    for entry in reversed(history or []):
        comment = " ".join(str(entry.get("comment") or "").split())
        if comment:
            return shorten(comment, COMPLAINT_NOTE_MAX)
    return ""


def in_each_locale(text: Callable[[str], str]) -> dict[str, str]:
    """``{"en": .., "hi": ..}`` for every locale with a catalog, for the ``name`` filter:
    a language switch mid-flow still reads right."""
    return {lang(locale): text(locale) for locale in available_locales() or (SOURCE_LOCALE,)}

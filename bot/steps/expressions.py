"""``{slot.path|filter}`` expressions and the texts and media of a step, for every step kind.

A path reads the session's slots (plus ``name``, ``locale``, ``lang`` and ``channel``):
keys and list indexes joined by dots (``{bill.total}``, ``{mine.bills.0.id}``). A filter
formats the value for the person's locale::

    params:
      amount: "{bill.total|amount}"     # ₹1,23,456.00
      due: "{bill.due|day}"             # 7 Dec 2026 (in the person's language)
      type: "{complaint.type|name}"     # {en: Water, hi: पानी} -> पानी in Hindi
      count: "{mine.bills|count}"       # the length of a list
      phone: "{phone|mask}"             # +91******0077
      at: "{complaint.at|moment}"       # a date and time; "{x|upper}" capitalizes
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from bot.flowspec import EXPRESSION, StepDef, expressions
from bot.i18n import format_amount, format_day, format_moment, lang, translate
from bot.messages import Media
from bot.session import Session


def value(s: Session, expr: Any, scope: dict[str, Any] | None = None) -> Any:
    """``{path}`` alone gives the raw value; text with expressions gives a string."""
    if not isinstance(expr, str):
        return expr
    found = expressions(expr)
    if len(found) == 1 and expr.strip() == "{" + found[0][0] + (
        "|" + found[0][1] if found[0][1] else "") + "}":
        path, filt = found[0]
        raw = lookup(scope if scope is not None else session_scope(s), path)
        return apply_filter(filt, raw, s.locale) if filt else raw
    return display(s, expr, scope)


def display(s: Session, expr: str, scope: dict[str, Any] | None = None) -> str:
    """``expr`` with every expression replaced by its text (nothing for a missing value)."""
    data = scope if scope is not None else session_scope(s)

    def replace(match: re.Match[str]) -> str:
        found = lookup(data, match.group(1))
        found = apply_filter(match.group(2), found, s.locale) if match.group(2) else found
        return "" if found is None else str(found)

    return EXPRESSION.sub(replace, expr)


def session_scope(s: Session) -> dict[str, Any]:
    """What a path can name: the slots and a few facts about the person."""
    return {**s.slots, "name": s.name, "locale": s.locale, "lang": lang(s.locale),
            "channel": s.channel}


def lookup(data: Any, path: str) -> Any:
    """The value at a dotted path of dicts and lists, or None."""
    for part in path.split("."):
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def apply_filter(filt: str, value: Any, locale: str | None) -> Any:
    """Display filters: amount (₹ Indian format), day, moment, name (localized), count."""
    if value is None:
        return None
    if filt == "amount":
        return format_amount(Decimal(str(value)), locale)
    if filt == "day":
        return format_day(value if isinstance(value, date | datetime | str) else str(value), locale)
    if filt == "moment":
        return format_moment(value, locale)
    if filt == "name":
        if isinstance(value, dict):
            return value.get(lang(locale)) or value.get("en") or next(iter(value.values()), "")
        return value
    if filt == "upper":
        return str(value).upper()
    if filt == "count":
        return len(value) if hasattr(value, "__len__") else 0
    if filt == "mask":
        text = str(value)
        return text[:3] + "*" * max(0, len(text) - 7) + text[-4:] if len(text) > 7 else text
    return value


def step_text(s: Session, msgid: str, step: StepDef) -> str:
    """Message ``msgid`` in the person's locale, with the step's ``params`` filled in."""
    params = {"name": s.name or ""}
    params.update({name: display(s, expr) for name, expr in step.params.items()})
    return translate(s.locale, msgid, **params)


def step_media(s: Session, step: StepDef) -> tuple[Media, ...]:
    """The files the step's ``media`` expression names (a list of {url, content_type, ...})."""
    if not step.media:
        return ()
    items = value(s, step.media) or []
    if isinstance(items, dict):
        items = [items]
    return tuple(Media(i["url"], i.get("content_type", "application/pdf"), i.get("filename"))
                 for i in items if isinstance(i, dict) and i.get("url"))

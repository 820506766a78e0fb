"""Redaction of citizens' free text before it is shown on a public surface (SPEC §9).

``redact(text, names=...)`` replaces, in this order:

- e-mail addresses, with ``[e-mail]``;
- Indian phone numbers, with ``[phone]``: a mobile number (ten digits starting 6-9) with
  or without ``+91``/``91``/``0091``/``0`` in front, and an STD landline (``0`` and ten
  digits, ``0135-2712345``), written together or with single spaces, dashes or dots
  between the digits (``+91 98765 43210``, ``098765-43210``, ``(+91) 9876543210``);
- long numbers, with ``[id number]``: 12 or more digits in a row, or three or four groups
  of four digits (Aadhaar ``1234 5678 9012``, its 16-digit virtual ID, card numbers);
- Indian vehicle registration numbers, with ``[vehicle]``: ``UK07AB1234``,
  ``UK 07 AB 1234``, ``DL3CAB1234``, ``22 BH 1234 AA`` (a state or territory code first);
- the given names (the complainant's, as stored on their user record), with ``[name]``:
  the whole name and each of its words of three or more letters, as whole words, in any
  letter case.

Digits may be ASCII, Devanagari, Gurmukhi, Odia or Bengali. A number is matched only as a
whole (never digits out of a longer number), so complaint numbers (``PG-UK-DDN-2026-000123``),
amounts (``₹1,200``, ``Rs. 12,50,000``), dates, times, ward and pole numbers stay as typed.

What it cannot know: other people's names in the text, a name spelled in another script
than the one stored, an address. Public surfaces therefore show a locality, never the
typed address, and ``SAMVAD_OPEN311_DESCRIPTIONS=none`` withholds descriptions entirely.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

PHONE = "[phone]"
EMAIL = "[e-mail]"
ID_NUMBER = "[id number]"
VEHICLE = "[vehicle]"
NAME = "[name]"

# Decimal digits of the scripts citizens write in: ASCII, Devanagari, Bengali, Gurmukhi, Odia.
_D = "0-9\u0966-\u096f\u09e6-\u09ef\u0a66-\u0a6f\u0b66-\u0b6f"
DIGIT = f"[{_D}]"
_ZERO = "[0\u0966\u09e6\u0a66\u0b66]"
_NINE = "[9\u096f\u09ef\u0a6f\u0b6f]"
_ONE = "[1\u0967\u09e7\u0a67\u0b67]"
_MOBILE_LEAD = "[6-9\u096c-\u096f\u09ec-\u09ef\u0a6c-\u0a6f\u0b6c-\u0b6f]"
_LANDLINE_LEAD = "[1-5\u0967-\u096b\u09e7-\u09eb\u0a67-\u0a6b\u0b67-\u0b6b]"
_SEP = "[ \u00a0.\\-\u2010-\u2013]"  # one space, dot or dash between digits
_GAP = f"{_SEP}?"
_NOT_AFTER_DIGIT = f"(?<![{_D}])"
_NOT_BEFORE_DIGIT = f"(?![{_D}])"


def _digits(count: int) -> str:
    return f"(?:{_GAP}{DIGIT}){{{count}}}"


_COUNTRY = f"(?:\\(?(?:\\+|{_ZERO}{_ZERO})?{_NINE}{_ONE}\\)?[ \u00a0\\-]{{0,2}}|{_ZERO}{_GAP})"

_EMAIL_RE = re.compile(r"[\w.%+\-]+@[\w\-]+(?:\.[\w\-]+)*\.[^\W\d_]{2,}", re.UNICODE)
_PHONE_RE = re.compile(
    f"{_NOT_AFTER_DIGIT}"
    f"(?:{_COUNTRY}?{_MOBILE_LEAD}{_digits(9)}"  # mobile: [+91 / 0] 98765 43210
    f"|{_ZERO}{_LANDLINE_LEAD}{_digits(9)})"  # landline: 0135-2712345 (STD code + number)
    f"{_NOT_BEFORE_DIGIT}"
)
# 12 or more digits in a row, or 3-4 groups of four (Aadhaar 1234 5678 9012, cards); not
# digits grouped otherwise (dates 2026-06-14, times, amounts), even when they add up to 12.
_LONG_NUMBER_RE = re.compile(f"{_NOT_AFTER_DIGIT}(?:{DIGIT}{{12,}}"
                             f"|{DIGIT}{{4}}(?:{_SEP}{DIGIT}{{4}}){{2,3}}){_NOT_BEFORE_DIGIT}")
# Registration marks: state/UT code, RTO number, series letters, number (MoRTH format);
# and the Bharat series (22 BH 1234 AA).
_STATES = ("AN AP AR AS BR CG CH DD DL DN GA GJ HP HR JH JK KA KL LA LD MH ML MN MP MZ NL OD "
           "OR PB PY RJ SK TN TR TS UA UK UP WB")
_VEHICLE_RE = re.compile(
    f"(?<![\\w])(?:(?:{'|'.join(_STATES.split())})[ \\-]?\\d{{1,2}}[ \\-]?[A-Z]{{0,3}}"
    f"[ \\-]?\\d{{4}}"
    f"|\\d{{2}}[ \\-]?BH[ \\-]?\\d{{4}}[ \\-]?[A-Z]{{1,2}})(?![\\w])",
    re.IGNORECASE,
)
# Letters and the combining vowel signs of Indian scripts count as parts of a word (the
# danda, U+0964-0965, ends a sentence).
_WORD = "\\w\u0900-\u0963\u0966-\u0dff"
_MIN_NAME_PART = 3


def _name_pattern(names: Iterable[str | None]) -> re.Pattern[str] | None:
    """Whole-word matches of each full name and of its longer words, longest first."""
    parts: set[str] = set()
    for name in names:
        words = re.findall(f"[{_WORD}'’]+", name or "")
        if not words:
            continue
        parts.add(" ".join(words))
        parts.update(word for word in words if len(word) >= _MIN_NAME_PART)
    if not parts:
        return None
    # The full name with any run of spaces or dots between its words ("Asha  Rawat").
    alternatives = ["[\\s.]+".join(re.escape(w) for w in part.split(" "))
                    for part in sorted(parts, key=len, reverse=True)]
    return re.compile(f"(?<![{_WORD}])(?:{'|'.join(alternatives)})(?![{_WORD}])",
                      re.IGNORECASE)


def redact(text: str | None, names: Iterable[str | None] = ()) -> str | None:
    """``text`` without e-mails, phone numbers, long ID numbers, vehicle numbers and
    ``names``; ``None`` stays ``None``. Redacting twice changes nothing more."""
    if text is None:
        return None
    text = _EMAIL_RE.sub(EMAIL, text)
    text = _PHONE_RE.sub(PHONE, text)
    text = _LONG_NUMBER_RE.sub(ID_NUMBER, text)
    text = _VEHICLE_RE.sub(VEHICLE, text)
    pattern = _name_pattern(names)
    if pattern is not None:
        text = pattern.sub(_keep_tokens, text)
    return text


_TOKENS = frozenset((PHONE, EMAIL, ID_NUMBER, VEHICLE, NAME))


def _keep_tokens(match: re.Match[str]) -> str:
    """``[name]``, except for a name that is a word of a replacement (``[phone]``)."""
    text, start, end = match.string, match.start(), match.end()
    opening, closing = text.rfind("[", 0, start), text.find("]", end)
    if opening >= 0 and closing >= 0 and text[opening:closing + 1] in _TOKENS:
        return match.group()
    return NAME

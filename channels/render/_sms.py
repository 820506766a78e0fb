"""SMS encoding and segment counting (3GPP TS 23.038 GSM 7-bit default alphabet), and
``fit_sms``: a pushed SMS shortened to a segment budget, keeping its link."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from channels.render._text import ELLIPSIS, join_lines, truncate

# The 127 printable characters of the GSM 03.38 default alphabet (0x1B is the escape).
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Characters of the extension table: each is sent as ESC + code, two septets.
GSM_EXTENSION = frozenset("\f^{}\\[~]|€")

SINGLE_SEPTETS, PART_SEPTETS = 160, 153  # a concatenated part loses 7 septets to its header
SINGLE_UCS2, PART_UCS2 = 70, 67

# Typography that would force a whole English SMS into UCS-2 (70 characters a segment).
# Applied only when the result is pure GSM; Hindi text keeps its ₹ and quotes.
_GSM_FRIENDLY = str.maketrans(
    {
        "‘": "'", "’": "'", "‚": "'", "‛": "'", "′": "'",
        "“": '"', "”": '"', "„": '"', "‟": '"', "″": '"',
        "‐": "-", "‑": "-", "–": "-", "—": "-", "―": "-", "−": "-",
        "·": "-", "•": "-",
        "…": "...",
        "₹": "Rs.",
        "\t": " ", "\u00a0": " ", "\u2002": " ", "\u2003": " ", "\u2009": " ",
        "\u202f": " ", "\u200b": "",
    }
)


@dataclass(frozen=True)
class SmsCount:
    """How an SMS text is encoded and billed."""

    encoding: Literal["GSM-7", "UCS-2"]
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    segments: int


def is_gsm(text: str) -> bool:
    return all(char in GSM_BASIC or char in GSM_EXTENSION for char in text)


def gsm_friendly(parts: Sequence[str]) -> list[str]:
    """``parts`` with look-alike typography replaced when that makes them all GSM-7.

    Otherwise (Hindi text, emoji) the parts stay as they are.
    """
    if is_gsm("".join(parts)):
        return list(parts)
    replaced = [part.translate(_GSM_FRIENDLY) for part in parts]
    return replaced if is_gsm("".join(replaced)) else list(parts)


def _count(weights: list[int], single: int, part: int) -> int:
    total = sum(weights)
    if total == 0:
        return 0
    if total <= single:
        return 1
    # An escape pair or a surrogate pair never straddles two parts: a character that
    # does not fit whole starts the next part, leaving a unit of the previous one unused.
    segments, used = 1, 0
    for weight in weights:
        if used + weight > part:
            segments += 1
            used = 0
        used += weight
    return segments


def sms_segments(text: str) -> SmsCount:
    """Encoding, units and segment count of ``text`` as one (possibly concatenated) SMS.

    An empty text needs no segment.
    """
    if is_gsm(text):
        weights = [2 if char in GSM_EXTENSION else 1 for char in text]
        return SmsCount("GSM-7", sum(weights), _count(weights, SINGLE_SEPTETS, PART_SEPTETS))
    weights = [2 if ord(char) > 0xFFFF else 1 for char in text]
    return SmsCount("UCS-2", sum(weights), _count(weights, SINGLE_UCS2, PART_UCS2))


def fit_sms(text: str, link: str | None = None, max_segments: int = 3, *,
            rest: Sequence[str] = ()) -> str:
    """The SMS body ``text``, then ``rest`` (option lines), then the ``link`` line last,
    within ``max_segments`` segments: only ``text`` is shortened, ending in "…" ("..."
    when the SMS is otherwise GSM-7, so one character does not turn it into UCS-2). The
    rest and the link are kept whole: the full story is behind the short link. When they
    alone exceed the budget the text goes and they are returned as they are.
    """
    text, *tail = gsm_friendly([text.strip(), *(line for line in (*rest, link) if line)])
    whole = join_lines(text, *tail)
    if sms_segments(whole).segments <= max_segments:
        return whole
    ellipsis = "..." if is_gsm(whole) else ELLIPSIS
    best = join_lines(*tail)
    low, high = len(ellipsis) + 1, len(text) - 1
    while low <= high:  # the longest shortened text that fits (segments grow with length)
        middle = (low + high) // 2
        candidate = join_lines(truncate(text, middle, ellipsis), *tail)
        if sms_segments(candidate).segments <= max_segments:
            best, low = candidate, middle + 1
        else:
            high = middle - 1
    return best

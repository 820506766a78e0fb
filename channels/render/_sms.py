"""SMS encoding and segment counting (3GPP TS 23.038 GSM 7-bit default alphabet)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

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

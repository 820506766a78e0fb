"""Cutting text without breaking what a reader sees as one letter or one line."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

ELLIPSIS = "…"

_JOINERS = frozenset("\u200c\u200d")  # ZWNJ, ZWJ
_VIRAMA = 9  # canonical combining class of Indic viramas (halant)
_URL = re.compile(r"(?:https?://|www\.)\S", re.IGNORECASE)


def one_line(text: str) -> str:
    """Collapse runs of whitespace (newlines included) to single spaces."""
    return " ".join(text.split())


def has_url(text: str) -> bool:
    return _URL.search(text) is not None


def join_lines(*parts: str | None) -> str:
    """Join the non-empty parts with newlines."""
    return "\n".join(part for part in parts if part)


def can_cut(text: str, index: int) -> bool:
    """Whether ``text`` may be split before ``text[index]`` without breaking a cluster.

    A cut must not separate a letter from its combining marks (Devanagari matras,
    nukta, variation selectors), a virama from the consonant it joins, the halves of
    a ZWJ sequence, or an emoji from its skin-tone modifier.
    """
    if index <= 0 or index >= len(text):
        return True
    before, after = text[index - 1], text[index]
    if unicodedata.category(after).startswith("M"):
        return False
    if before in _JOINERS or after in _JOINERS:
        return False
    if unicodedata.combining(before) == _VIRAMA:
        return False
    return not "\U0001f3fb" <= after <= "\U0001f3ff"


def truncate(text: str, limit: int, ellipsis: str = ELLIPSIS) -> str:
    """``text`` if it fits in ``limit`` characters, else a clean prefix plus an ellipsis."""
    if len(text) <= limit:
        return text
    cut = limit - len(ellipsis)
    while cut > 0 and not can_cut(text, cut):
        cut -= 1
    head = text[:cut].rstrip() if cut > 0 else text[: limit - len(ellipsis)]
    return head + ellipsis


def _after_newline(text: str) -> Callable[[int], bool]:
    return lambda i: text[i - 1] == "\n"


def _after_space(text: str) -> Callable[[int], bool]:
    return lambda i: text[i - 1].isspace()


def _cut_index(text: str, low: int, high: int, *, latest: bool) -> int:
    """The best place in ``[low, high]`` to split ``text``: a line end, a space, a cluster edge."""
    positions = range(high, low - 1, -1) if latest else range(low, high + 1)
    tests = (_after_newline(text), _after_space(text), lambda i: can_cut(text, i))
    for good in tests:
        for index in positions:
            if good(index):
                return index
    return high if latest else low


def split(text: str, limit: int) -> list[str]:
    """Split ``text`` into pieces of at most ``limit`` characters, at line ends where possible."""
    pieces = []
    rest = text.strip()
    while len(rest) > limit:
        index = _cut_index(rest, 1, limit, latest=True)
        pieces.append(rest[:index].rstrip())
        rest = rest[index:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


def split_tail(text: str, limit: int) -> tuple[str, str]:
    """Split ``text`` into ``(head, tail)``: the tail is the longest end that fits ``limit``."""
    text = text.strip()
    if len(text) <= limit:
        return "", text
    index = _cut_index(text, len(text) - limit, len(text) - 1, latest=False)
    return text[:index].rstrip(), text[index:].lstrip()

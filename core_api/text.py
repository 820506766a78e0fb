"""Free text typed by citizens and staff (descriptions, names, comments), made safe to keep.

Stored verbatim except for what no person types and what breaks storage or display:
control characters (NUL cannot be stored in PostgreSQL text; the rest garble logs, PDFs
and SMS), lone surrogates (not encodable as UTF-8) and the bidirectional overrides that
make text display in another order than it is stored. Line breaks and tabs stay; ``\\r\\n``
becomes ``\\n``. Everything else — quotes, ``<script>``, SQL — is kept as typed: queries are
parameterised and every page escapes, so it stays harmless text.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def clean_text(value: str) -> str:
    """``value`` without control characters, lone surrogates and bidi overrides."""
    return _UNSAFE.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))


FreeText = Annotated[str, AfterValidator(clean_text)]

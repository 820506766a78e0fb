"""The locales a user may choose: the folders of ``locales/`` that hold a ``locale.yaml``.

The locale registry is data shared by the whole product; the bot reads it in full
(``bot/i18n.py``). core_api needs only the codes and imports nothing of the bot (SPEC §1),
so it reads the folder names itself, from the same place (``SAMVAD_LOCALES_DIR`` or the
bundled ``locales/``).
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Annotated

from fastapi import Query
from pydantic import AfterValidator, Field

BUNDLED_LOCALES = Path(__file__).resolve().parents[2] / "locales"


def supported_locales() -> frozenset[str]:
    """The registered locale codes (en_IN, hi_IN, ...)."""
    return _codes(Path(os.environ.get("SAMVAD_LOCALES_DIR") or BUNDLED_LOCALES))


@cache
def _codes(directory: Path) -> frozenset[str]:
    return frozenset(path.parent.name for path in directory.glob("*/locale.yaml"))


def _supported(code: str) -> str:
    if code not in supported_locales():
        raise ValueError(f"unknown locale; one of {', '.join(sorted(supported_locales()))}")
    return code


LOCALE_PATTERN = r"^[a-z]{2,3}_[A-Z]{2}$"

# A locale code the product serves, in a body and as a query parameter: its shape for the
# OpenAPI schema, its registration checked on each request.
LocaleCode = Annotated[str, Field(pattern=LOCALE_PATTERN, examples=["hi_IN"]),
                       AfterValidator(_supported)]
LocaleQuery = Annotated[str, Query(pattern=LOCALE_PATTERN, examples=["hi_IN"]),
                        AfterValidator(_supported)]

"""Certificate fees as data (``fees.yaml``): a per-copy fee and a free first copy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, Field

FEES_FILE = Path(__file__).parent / "fees.yaml"


class KindFee(BaseModel):
    per_copy: Decimal = Field(ge=0, decimal_places=2)
    free_first_copy_days: int = Field(0, ge=0)


class FeeTable(BaseModel):
    default: dict[str, KindFee]
    tenants: dict[str, dict[str, KindFee]] = Field(default_factory=dict)

    def for_kind(self, tenant_code: str, kind: str) -> KindFee:
        """The ULB's own fee when it has one, else the state default."""
        return self.tenants.get(tenant_code, {}).get(kind) or self.default[kind]


@cache
def fee_table() -> FeeTable:
    """The bundled fee table, validated once."""
    return FeeTable.model_validate(yaml.safe_load(FEES_FILE.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class Fee:
    copies: int
    free_copies: int
    per_copy: Decimal
    total: Decimal


def compute_fee(
    tenant_code: str, kind: str, copies: int, *, registered_on: date, today: date,
    first_request: bool,
) -> Fee:
    """The fee for ``copies``; the first copy is free on a timely first request."""
    rule = fee_table().for_kind(tenant_code, kind)
    timely = (today - registered_on).days <= rule.free_first_copy_days
    free = 1 if first_request and timely and rule.free_first_copy_days > 0 else 0
    free = min(free, copies)
    return Fee(copies=copies, free_copies=free, per_copy=rule.per_copy,
               total=rule.per_copy * (copies - free))

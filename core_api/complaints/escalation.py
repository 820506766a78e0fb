"""Escalation by levels, read from data (``escalation.yaml``, or SAMVAD_ESCALATION_FILE).

A case past its deadline climbs levels by the hours since the breach (GRO -> the ULB's
admin -> the state admin for PGR) and each level is reminded at its own interval until
someone acts. The plan is data so a state can change its chain of command without a
release; it is validated when loaded, so a typo stops the worker at start, not at 3 a.m.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core_api.complaints.recipients import MAX_GROS, covering_tenants
from core_api.users.models import Role, User, UserKind, UserRole

BUNDLED = Path(__file__).with_name("escalation.yaml")

Grant = Literal["ulb", "ulb_or_state", "state"]


class Audience(BaseModel):
    """Who a level tells: holders of ``role`` granted where ``grant`` says."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    role: Role
    grant: Grant

    def tenants(self, tenant_code: str) -> list[str]:
        """The grant tenants that count for a case of ``tenant_code`` (``uk.dehradun``)."""
        if self.grant == "ulb":
            return [tenant_code]
        if self.grant == "state":
            return covering_tenants(tenant_code)[:1]
        return covering_tenants(tenant_code)


class Level(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=40)
    after_hours: NonNegativeInt
    repeat_hours: PositiveInt | None = None
    to: Audience

    @property
    def after(self) -> timedelta:
        return timedelta(hours=self.after_hours)

    @property
    def repeat(self) -> timedelta | None:
        return timedelta(hours=self.repeat_hours) if self.repeat_hours else None


class EscalationPlan(BaseModel):
    """The levels of one business service, lowest first; level numbers start at 1."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    levels: tuple[Level, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _climbing(self) -> EscalationPlan:
        hours = [level.after_hours for level in self.levels]
        if any(later <= earlier for earlier, later in pairwise(hours)):
            raise ValueError(f"after_hours must increase level by level, got {hours}")
        return self

    def level(self, number: int) -> Level:
        """Level ``number`` (1-based); a number beyond the plan (a shortened file) is the top."""
        return self.levels[min(number, len(self.levels)) - 1]

    def reached(self, deadline: datetime, now: datetime) -> int:
        """The highest level whose time has come (0: not yet escalated)."""
        return sum(1 for level in self.levels if now >= deadline + level.after)

    def reminder_due(self, number: int, last: datetime | None, now: datetime) -> bool:
        """Whether level ``number``, last announced at ``last``, is due a reminder."""
        interval = self.level(number).repeat
        return interval is not None and last is not None and now >= last + interval

    def repeat_count(self, number: int, deadline: datetime, now: datetime) -> int:
        """Which reminder this is at level ``number``: whole intervals since it was reached.

        Derived from the clock, not stored: a reminder is announced only a full interval
        after the previous announcement, so the count rises by at least one each time."""
        level = self.level(number)
        assert level.repeat is not None
        return max(1, (now - (deadline + level.after)) // level.repeat)


def parse_plans(data: dict[str, Any]) -> dict[str, EscalationPlan]:
    return {code: EscalationPlan(levels=levels) for code, levels in (data or {}).items()}


@cache
def load_plans(path: Path | None = None) -> dict[str, EscalationPlan]:
    """The plans in ``path`` (default: the bundled ``escalation.yaml``), by business service."""
    source = path or BUNDLED
    return parse_plans(yaml.safe_load(source.read_text(encoding="utf-8")))


def plan_for(business_service: str, path: Path | None = None) -> EscalationPlan:
    plans = load_plans(path)
    if business_service not in plans:
        raise KeyError(f"no escalation plan for {business_service} in {path or BUNDLED}")
    return plans[business_service]


async def audience_recipients(session: AsyncSession, audience: Audience,
                              tenant_code: str) -> list[dict[str, Any]]:
    """Active employees holding the audience's grant, with a phone: ``[{user_id, phone,
    locale}]`` (bounded, like the GROs of a complaint event)."""
    granted = select(UserRole.user_id).where(
        UserRole.role == audience.role, UserRole.tenant_code.in_(audience.tenants(tenant_code)))
    rows = await session.execute(
        select(User.id, User.phone, User.locale)
        .where(User.id.in_(granted), User.kind == UserKind.EMPLOYEE, User.active.is_(True),
               User.phone.is_not(None))
        .order_by(User.id).limit(MAX_GROS))
    return [{"user_id": user_id, "phone": phone, "locale": locale}
            for user_id, phone, locale in rows]

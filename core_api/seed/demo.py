"""``samvad seed --demo``: the fixed demo data of SPEC §3, loaded idempotently.

Each ``seed_*`` step upserts by natural key (tenant code, boundary code, phone,
username), so running the command twice changes nothing the second time.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core_api.auth.tokens import hash_password
from core_api.bills.demo import seed_bills
from core_api.certificates.seed import seed_registrations
from core_api.complaints.catalog import seed_complaint_types
from core_api.tenants.models import Boundary, Tenant
from core_api.users.models import Role, User, UserKind, UserRole
from core_api.workflow.service import sync_definitions

DATA_DIR = Path(__file__).parent / "data"


@cache
def load_yaml(name: str) -> Any:
    """A bundled seed file, parsed once."""
    return yaml.safe_load((DATA_DIR / name).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class DemoUser:
    phone: str
    name: str
    locale: str | None = None
    tenant: str | None = None
    department: str | None = None
    roles: tuple[str, ...] = ()
    username: str | None = None


DEMO_CITIZENS = (
    DemoUser("+919876500001", "सुनीता देवी", "hi_IN", "uk.dehradun"),
    DemoUser("+919876500002", "Rahul Verma", "en_IN", "uk.dehradun"),
)
DEMO_EMPLOYEES = (
    DemoUser("+919876510001", "Meena Rawat", "hi_IN", "uk.dehradun", "DEPT_ADMIN",
             (Role.GRO, Role.CSR), "gro.dehradun"),
    DemoUser("+919876510002", "Ramesh Negi", "hi_IN", "uk.dehradun", "DEPT_STREETLIGHT",
             (Role.LME,), "lme.electrical.dehradun"),
    DemoUser("+919876510003", "Kamal Bisht", "hi_IN", "uk.dehradun", "DEPT_SANITATION",
             (Role.LME,), "lme.sanitation.dehradun"),
    DemoUser("+919876510004", "Anita Joshi", "en_IN", "uk.dehradun", "DEPT_REVENUE",
             (Role.REGISTRAR,), "registrar.dehradun"),
    # The municipal commissioner: ADMIN of the ULB, the second escalation level of PGR.
    DemoUser("+919876510005", "Vivek Bhatt", "hi_IN", "uk.dehradun", "DEPT_ADMIN",
             (Role.ADMIN,), "commissioner.dehradun"),
)
ADMIN = DemoUser("+919876519999", "State Administrator", "en_IN", "uk", "DEPT_ADMIN",
                 (Role.ADMIN,), "admin")


@dataclass
class SeedReport:
    """What the seed did, printed by the CLI."""

    counts: dict[str, int] = field(default_factory=dict)
    logins: list[tuple[str, str, str]] = field(default_factory=list)  # (username, pw, roles)

    def add(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n


async def _upsert(session: AsyncSession, model: type, key: dict[str, Any],
                  values: dict[str, Any]) -> Any:
    row = await session.scalar(select(model).filter_by(**key))
    if row is None:
        row = model(**key, **values)
        session.add(row)
    else:
        for name, value in values.items():
            setattr(row, name, value)
    return row


def _other_names(item: dict[str, Any], prefix: str = "name_") -> dict[str, str]:
    """{"pa": ..., "or": ...} from name_pa / name_or keys (English and Hindi have columns)."""
    return {k[len(prefix):]: v for k, v in item.items()
            if k.startswith(prefix) and k[len(prefix):] not in ("en", "hi")}


async def seed_tenants(session: AsyncSession, report: SeedReport) -> None:
    """The state, its ULBs and every zone, ward and locality."""
    data = load_yaml("boundaries.yaml")
    state = data["state"]
    await _upsert(session, Tenant, {"code": state["code"]}, {
        "parent_code": None, "level": "state", "id_code": state["code"].upper(),
        "name_en": state["name_en"], "name_hi": state["name_hi"],
        "short_en": state["name_en"], "short_hi": state["name_hi"], "names": _other_names(state),
        "short_names": _other_names(state),
    })
    await session.flush()
    for ulb in data["ulbs"]:
        await _upsert(session, Tenant, {"code": ulb["code"]}, {
            "parent_code": state["code"], "level": "ulb", "id_code": ulb["id_code"],
            "name_en": ulb["name_en"], "name_hi": ulb["name_hi"],
            "short_en": ulb.get("short_en"), "short_hi": ulb.get("short_hi"),
            "names": _other_names(ulb), "short_names": _other_names(ulb, "short_"),
            "lat": ulb["center"]["lat"], "lng": ulb["center"]["lng"],
        })
        report.add("ulbs")
        await session.flush()
        await _seed_children(session, ulb["code"], None, ulb.get("zones", []), "zone", report)
    await session.flush()


_CHILDREN = {"zone": ("wards", "ward"), "ward": ("localities", "locality"), "locality": None}


async def _seed_children(session: AsyncSession, tenant: str, parent_id: int | None,
                         items: list[dict[str, Any]], kind: str, report: SeedReport) -> None:
    for item in items:
        row = await _upsert(session, Boundary, {"code": item["code"]}, {
            "tenant_code": tenant, "kind": kind, "parent_id": parent_id,
            "name_en": item["name_en"], "name_hi": item["name_hi"],
            "names": _other_names(item), "aliases": item.get("aliases", []),
            "lat": item.get("lat"), "lng": item.get("lng"), "polygon": item.get("polygon"),
        })
        await session.flush()
        report.add(f"{kind} boundaries")
        child = _CHILDREN[kind]
        if child:
            await _seed_children(session, tenant, row.id, item.get(child[0], []), child[1], report)


async def seed_users(session: AsyncSession, report: SeedReport, password: str) -> None:
    """Demo citizens, employees of Dehradun and the state admin."""
    for citizen in DEMO_CITIZENS:
        await _upsert(session, User, {"phone": citizen.phone}, {
            "kind": UserKind.CITIZEN, "name": citizen.name, "locale": citizen.locale,
            "tenant_code": citizen.tenant,
        })
        report.add("citizens")
    password_hash = hash_password(password)
    for staff in (*DEMO_EMPLOYEES, ADMIN):
        user = await _upsert(session, User, {"phone": staff.phone}, {
            "kind": UserKind.EMPLOYEE, "name": staff.name, "locale": staff.locale,
            "tenant_code": staff.tenant, "department": staff.department,
            "username": staff.username, "password_hash": password_hash, "active": True,
        })
        await session.flush()
        held = {(r.role, r.tenant_code) for r in await user.awaitable_attrs.roles}
        for role in staff.roles:
            if (str(role), staff.tenant) not in held:
                user.roles.append(UserRole(role=str(role), tenant_code=staff.tenant))
        report.add("employees")
        report.logins.append((staff.username or "", password, "+".join(staff.roles)))
    await session.flush()


SeedStep = Callable[[AsyncSession, SeedReport], Awaitable[None]]


def extra_steps() -> list[SeedStep]:
    """Seed steps of the citizen-service features (complaint types, bills, records)."""
    steps: list[SeedStep] = []
    steps.append(seed_complaint_types)
    steps.append(seed_registrations)
    steps.append(seed_bills)
    return steps


async def seed_demo(session: AsyncSession, demo_password: str | None = None) -> SeedReport:
    """Load every piece of demo data; the caller commits."""
    report = SeedReport()
    password = demo_password or secrets.token_urlsafe(12)
    changed = await sync_definitions(session)
    report.add("workflow definitions updated", len(changed))
    await seed_tenants(session, report)
    await seed_users(session, report, password)
    for step in extra_steps():
        await step(session, report)
    await session.flush()
    return report

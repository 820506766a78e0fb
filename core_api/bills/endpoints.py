"""Bills API: a caller's own bills, staff search, and lookup by consumer number.

Who sees what:
- a citizen (through the bot) lists the bills linked to them, by user id or by phone;
- staff list and search the bills of tenants they hold a role in (``tenant=`` required);
- anyone may look a bill up by its exact consumer number (``/bills/search``) to pay it:
  the answer masks the owner's name and never shows the phone; lookups are rate limited.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, ClassVar

from fastapi import APIRouter, Query, Request
from sqlalchemy import ColumnElement, Select, bindparam, case, false, or_

from core_api.auth.deps import CurrentPrincipal
from core_api.auth.principal import Principal
from core_api.bills.models import Bill, BillService, BillStatus
from core_api.bills.schemas import BillOut
from core_api.bills.service import (
    bills_page,
    can_read,
    get_bill,
    is_owner,
    is_staff_of,
    read_bills,
)
from core_api.db import SessionDep
from core_api.errors import ERROR_RESPONSES, APIError, Forbidden, NotFound

router = APIRouter(prefix="/bills", tags=["bills"], responses=ERROR_RESPONSES)

SEARCH_LIMIT_PER_HOUR = 20
SEARCH_RESULTS = 5


class TooManyRequests(APIError):
    status_code: ClassVar[int] = 429
    code: ClassVar[str] = "too_many_requests"


def _require_person(principal: Principal) -> None:
    if principal.user_id is None and not principal.phone:
        raise Forbidden("Act on behalf of a number to see bills.", code="user_required")


@router.get("", response_model=list[BillOut], summary="My bills, or staff search within a tenant")
async def list_bills(
    session: SessionDep,
    principal: CurrentPrincipal,
    tenant: Annotated[str | None, Query(description="Staff: the tenant to search")] = None,
    service: BillService | None = None,
    status: BillStatus | None = None,
    consumer_number: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[BillOut]:
    """Without ``tenant``: the caller's own bills, unpaid first (most urgent due date first),
    then paid ones newest first; cancelled bills only when asked by ``status``.
    With ``tenant``: staff holding a role there search its bills."""
    parameters: dict[str, Any] = {"limit": limit, "offset": offset, "user_id": principal.user_id,
                                  "phone": principal.phone, "service": service,
                                  "status": status, "consumer": (consumer_number or "").strip()
                                  .upper()}
    if tenant is None:
        _require_person(principal)
        scope = tuple(name for name, value in (("user", principal.user_id),
                                               ("phone", principal.phone)) if value)
    else:
        if not principal.is_staff:
            raise Forbidden("Searching a tenant's bills is for its staff.", code="staff_only")
        principal.require_tenant(tenant)
        scope = ("tenant",)
        parameters |= {"tenant": tenant, "tenant_like": f"{tenant}.%"}
    statement = _list_statement(scope, service is not None, status is not None,
                                bool(consumer_number))
    records = await read_bills(session, statement, parameters)
    return [BillOut.of_record(record, full=True) for record in records]


@cache
def _list_statement(scope: tuple[str, ...], by_service: bool, by_status: bool,
                    by_consumer: bool) -> Select[Any]:
    """The list query of one shape, built once (the values are parameters): ``scope`` is
    what the caller's bills are matched by ("user", "phone": their own) or ("tenant",)."""
    if scope == ("tenant",):
        conditions = [or_(Bill.tenant_code == bindparam("tenant"),
                          Bill.tenant_code.like(bindparam("tenant_like")))]
    else:
        owner = {"user": Bill.owner_user_id == bindparam("user_id"),
                 "phone": Bill.owner_phone == bindparam("phone")}
        conditions = [or_(*(owner[name] for name in scope)) if scope else false()]
    if by_service:
        conditions.append(Bill.service == bindparam("service"))
    if by_status:
        conditions.append(Bill.status == bindparam("status"))
    else:
        conditions.append(Bill.status != BillStatus.CANCELLED)
    if by_consumer:
        conditions.append(Bill.consumer_number == bindparam("consumer"))
    return bills_page(conditions, _mine_first)


def _mine_first(c: Any) -> list[ColumnElement[Any]]:
    """Unpaid first (most urgent due date first), then paid ones newest first."""
    active = c.status == BillStatus.ACTIVE
    return [case((active, 0), else_=1), case((active, c.due_date)), c.paid_at.desc(),
            c.id.desc()]


@cache
def _search_statement(by_tenant: bool, by_service: bool) -> Select[Any]:
    """Exact consumer number, never cancelled; unpaid first, then the latest period."""
    conditions = [Bill.consumer_number == bindparam("consumer"),
                  Bill.status != BillStatus.CANCELLED]
    if by_tenant:
        conditions.append(Bill.tenant_code == bindparam("tenant"))
    if by_service:
        conditions.append(Bill.service == bindparam("service"))
    return bills_page(conditions, lambda c: [case((c.status == BillStatus.ACTIVE, 0),
                                                  else_=1), c.period_to.desc()])


def lookup_throttle_key(who: str) -> str:
    """The counter of one caller's consumer-number lookups this hour (a phone number or
    ``user:<id>``); a citizen's erasure deletes theirs."""
    return f"samvad:bills:search:{who}"


async def _throttle(request: Request, principal: Principal) -> None:
    """Bound consumer-number lookups per caller, so numbers cannot be walked."""
    key = lookup_throttle_key(principal.phone or f"user:{principal.user_id}")
    redis = request.app.state.redis
    count = await redis.incr(key)
    if count == 1:
        await redis.expire(key, 3600)
    if count > SEARCH_LIMIT_PER_HOUR:
        raise TooManyRequests("Too many bill lookups; try again in an hour.",
                              code="too_many_lookups")


@router.get("/search", response_model=list[BillOut],
            summary="Find a bill by its exact consumer or property number")
async def search_bills(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    consumer_number: Annotated[str, Query(min_length=3, max_length=64,
                                          examples=["WS-DDN-10234"])],
    tenant: Annotated[str | None, Query(description="The ULB, e.g. uk.dehradun")] = None,
    service: BillService | None = None,
) -> list[BillOut]:
    """Exact match only, at most five bills (unpaid first). Someone else's bill comes
    masked ("R**** V****", no phone): paying it is allowed, reading their details is not."""
    _require_person(principal)
    await _throttle(request, principal)
    records = await read_bills(session, _search_statement(tenant is not None, service is not None),
                               {"consumer": consumer_number.strip().upper(), "tenant": tenant,
                                "service": service, "limit": SEARCH_RESULTS, "offset": 0})
    return [
        BillOut.of_record(record, full=is_owner(record.bill, principal)
                          or is_staff_of(record.bill.tenant_code, principal))
        for record in records
    ]


@router.get("/{bill_number}", response_model=BillOut, summary="One bill")
async def read_bill(
    bill_number: str,
    session: SessionDep,
    principal: CurrentPrincipal,
    consumer_number: Annotated[str | None, Query(
        max_length=64, description="Not the owner: the consumer number you searched by")] = None,
) -> BillOut:
    """Owner and staff of the tenant: the full bill. Another citizen who names the bill's
    consumer number: the masked bill (to pay it). Anyone else: 404."""
    bill = await get_bill(session, bill_number)
    full = can_read(bill, principal, consumer_number)
    if full is None:
        raise NotFound("No such bill.", code="bill_not_found")
    return BillOut.of(bill, full=full)

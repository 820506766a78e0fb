"""Reactions of other modules to a paid bill (e.g. certificates move on once the fee is paid)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from core_api.bills.models import Bill
from core_api.payments.models import Payment

BillPaidHook = Callable[[AsyncSession, Bill, Payment], Awaitable[None]]
_hooks: dict[str, list[BillPaidHook]] = {}


def on_bill_paid(service: str, hook: BillPaidHook) -> None:
    """Call ``hook(session, bill, payment)`` whenever a bill of ``service`` is paid.

    The hook runs once per bill, inside the transaction that records the successful
    payment: if it raises, the payment is not recorded and the gateway's retry (or the
    citizen's next attempt) runs it again. Registering the same hook twice is a no-op.
    """
    hooks = _hooks.setdefault(service, [])
    if hook not in hooks:
        hooks.append(hook)


async def run_bill_paid_hooks(session: AsyncSession, bill: Bill, payment: Payment) -> None:
    """Run the hooks registered for the bill's service, in registration order."""
    for hook in list(_hooks.get(bill.service, ())):
        await hook(session, bill, payment)

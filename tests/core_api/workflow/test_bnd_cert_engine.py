"""The certificate workflow: apply -> the fee is paid (SYSTEM only) -> the registrar approves."""

from __future__ import annotations

from datetime import timedelta

import pytest
from workflow_people import ADMIN, CITIZEN, GRO, HARIDWAR_REGISTRAR, OTHER_CITIZEN, REGISTRAR

from core_api.db import utcnow
from core_api.errors import APIError
from core_api.workflow import service

CERT = "BND-CERT"


async def test_certificate_path(session, people, events):
    await people.add_haridwar_staff()
    baseline = await events(session)

    async def act(business_id, phone_or_principal, action, comment=None):
        principal = (phone_or_principal if not isinstance(phone_or_principal, str)
                     else await people.principal(phone_or_principal))
        return await service.transition(session, business_service=CERT,
                                        business_id=business_id, action=action,
                                        principal=principal, comment=comment)

    async def refused(business_id, who, action, code, comment=None):
        before = await events(session, business_id)
        with pytest.raises(APIError) as error:
            await act(business_id, who, action, comment)
        assert error.value.code == code, (who, action)
        assert await events(session, business_id) == before

    before = utcnow()
    move = await service.start(session, business_service=CERT, business_id="CERT-1",
                               tenant_code="uk.dehradun",
                               principal=await people.principal(CITIZEN),
                               owner_user_id=await people.id(CITIZEN))
    after = utcnow()
    process = move.process
    assert (move.to_state, move.actor_role) == ("PENDINGPAYMENT", "CITIZEN")
    # The definition's 72-hour SLA applies when the caller gives none; no state SLA here.
    assert before + timedelta(hours=72) <= process.sla_due_at <= after + timedelta(hours=72)
    assert process.state_sla_due_at is None

    # Only Samvad itself records the payment.
    for who in (CITIZEN, OTHER_CITIZEN, REGISTRAR, GRO, ADMIN):
        await refused("CERT-1", who, "PAY", "action_forbidden")
    moment = utcnow()
    move = await act("CERT-1", service.SYSTEM_PRINCIPAL, "PAY")
    assert (move.to_state, move.actor_role) == ("PENDINGAPPROVAL", "SYSTEM")
    assert move.process.state_sla_due_at >= moment + timedelta(hours=48)
    history = await service.history(session, move.process.id)
    assert (history[-1].actor_user_id, history[-1].actor_role) == (None, "SYSTEM")

    # Only a registrar of this ULB approves; a rejection needs a reason.
    for who in (CITIZEN, GRO, ADMIN, HARIDWAR_REGISTRAR):
        await refused("CERT-1", who, "APPROVE", "action_forbidden")
    await refused("CERT-1", service.SYSTEM_PRINCIPAL, "APPROVE", "action_forbidden")
    await refused("CERT-1", REGISTRAR, "REJECT", "comment_required")
    await refused("CERT-1", CITIZEN, "CANCEL", "invalid_action")
    move = await act("CERT-1", REGISTRAR, "APPROVE")
    assert (move.to_state, move.actor_role, move.process.state_sla_due_at) == (
        "ISSUED", "REGISTRAR", None)
    await refused("CERT-1", REGISTRAR, "APPROVE", "invalid_action")

    # The applicant may cancel before paying; nobody else may.
    await service.start(session, business_service=CERT, business_id="CERT-2",
                        tenant_code="uk.dehradun", principal=await people.principal(GRO),
                        owner_user_id=await people.id(OTHER_CITIZEN))
    await refused("CERT-2", CITIZEN, "CANCEL", "action_forbidden")
    await refused("CERT-2", GRO, "CANCEL", "action_forbidden")
    move = await act("CERT-2", OTHER_CITIZEN, "CANCEL")
    assert move.to_state == "CANCELLED"

    # A registrar rejects with a reason.
    await service.start(session, business_service=CERT, business_id="CERT-3",
                        tenant_code="uk.dehradun", principal=await people.principal(CITIZEN),
                        owner_user_id=None)
    await act("CERT-3", service.SYSTEM_PRINCIPAL, "PAY")
    move = await act("CERT-3", REGISTRAR, "REJECT", comment="Record not found")
    assert move.to_state == "REJECTED"
    # One event per move, none for the refusals.
    assert await events(session) == baseline + 3 + 2 + 3

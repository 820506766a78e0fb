"""The PGR workflow engine (SPEC §6): states, roles, assignees, comments, history, events, SLA."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from workflow_people import (
    ADMIN,
    CITIZEN,
    GRO,
    HARIDWAR_LME,
    LME_ELECTRICAL,
    LME_SANITATION,
    OTHER_CITIZEN,
    REGISTRAR,
)

from core_api.db import utcnow
from core_api.errors import APIError
from core_api.events.models import OutboxEvent
from core_api.workflow import service
from core_api.workflow.models import ProcessInstance

PGR = "PGR"


class Flow:
    """Drives one PGR process and checks that each move writes exactly one event."""

    def __init__(self, session, people, events, business_id: str = "TEST-1") -> None:
        self.session, self.people, self.events = session, people, events
        self.business_id = business_id

    async def start(self, phone: str = CITIZEN, owner: str | None = CITIZEN, **kwargs):
        before = await self.events(self.session, self.business_id)
        owner_id = await self.people.id(owner) if owner else None
        move = await service.start(
            self.session, business_service=PGR, business_id=self.business_id,
            tenant_code="uk.dehradun", principal=await self.people.principal(phone),
            owner_user_id=owner_id, **kwargs)
        assert await self.events(self.session, self.business_id) == before + 1
        return move

    async def act(self, phone: str, action: str, comment: str | None = None,
                  assignee: str | None = None):
        before = await self.events(self.session, self.business_id)
        move = await service.transition(
            self.session, business_service=PGR, business_id=self.business_id, action=action,
            principal=await self.people.principal(phone), comment=comment,
            assignee_id=await self.people.id(assignee) if assignee else None)
        assert await self.events(self.session, self.business_id) == before + 1
        return move

    async def refused(self, phone: str, action: str, status: int, code: str, **kwargs) -> dict:
        """The move fails with ``status``/``code`` and leaves nothing behind."""
        process = await service.load_process(self.session, PGR, self.business_id)
        state, assignee = process.state, process.assignee_user_id
        before = await self.events(self.session, self.business_id)
        with pytest.raises(APIError) as refused:
            await self.act(phone, action, **kwargs)
        assert (refused.value.status_code, refused.value.code) == (status, code)
        assert not [o for o in self.session.new if isinstance(o, OutboxEvent)]
        assert await self.events(self.session, self.business_id) == before
        process = await service.load_process(self.session, PGR, self.business_id)
        assert (process.state, process.assignee_user_id) == (state, assignee)
        return refused.value.details


async def test_complete_pgr_path(session, people, events):
    flow = Flow(session, people, events)
    ids = {p: await people.id(p) for p in (CITIZEN, GRO, LME_ELECTRICAL, LME_SANITATION)}
    before = utcnow()
    move = await flow.start(sla_hours=48, comment="Street light out since Monday")
    after = utcnow()
    process = move.process
    assert (move.action, move.from_state, move.to_state, move.actor_role) == (
        "APPLY", None, "PENDINGFORASSIGNMENT", "CITIZEN")
    assert (process.state, process.owner_user_id, process.assignee_user_id) == (
        "PENDINGFORASSIGNMENT", ids[CITIZEN], None)
    assert before + timedelta(hours=48) <= process.sla_due_at <= after + timedelta(hours=48)
    assert before + timedelta(hours=24) <= process.state_sla_due_at <= after + timedelta(hours=24)

    # ASSIGN needs an LME of the tenant.
    await flow.refused(GRO, "ASSIGN", 400, "assignee_required")
    await flow.refused(LME_ELECTRICAL, "ASSIGN", 403, "action_forbidden",
                       assignee=LME_ELECTRICAL)
    await flow.refused(GRO, "RESOLVE", 409, "invalid_action")
    move = await flow.act(GRO, "ASSIGN", assignee=LME_ELECTRICAL, comment="Please check")
    assert (move.to_state, move.process.assignee_user_id, move.actor_role) == (
        "PENDINGATLME", ids[LME_ELECTRICAL], "GRO")
    assert move.process.state_sla_due_at is None  # PENDINGATLME has no state SLA

    # The assigned LME sends it back (a reason is required); the assignee is cleared.
    await flow.refused(LME_SANITATION, "REASSIGN", 403, "not_assignee", comment="not mine")
    await flow.refused(LME_ELECTRICAL, "REASSIGN", 400, "comment_required", comment="   ")
    moment = utcnow()
    move = await flow.act(LME_ELECTRICAL, "REASSIGN", comment="Sanitation issue, not lights")
    assert (move.to_state, move.process.assignee_user_id) == ("PENDINGFORREASSIGNMENT", None)
    assert move.process.state_sla_due_at >= moment + timedelta(hours=24)

    # The GRO reassigns to another LME; only that LME may resolve.
    await flow.refused(GRO, "REASSIGN", 400, "invalid_assignee", assignee=REGISTRAR)
    move = await flow.act(GRO, "REASSIGN", assignee=LME_SANITATION)
    assert (move.to_state, move.process.assignee_user_id) == ("PENDINGATLME",
                                                               ids[LME_SANITATION])
    await flow.refused(LME_ELECTRICAL, "RESOLVE", 403, "not_assignee")
    await flow.refused(GRO, "RESOLVE", 403, "action_forbidden")
    await flow.refused(LME_SANITATION, "RESOLVE", 400, "unexpected_assignee",
                       assignee=LME_SANITATION)
    move = await flow.act(LME_SANITATION, "RESOLVE", comment="Drain cleared")
    assert (move.to_state, move.actor_role) == ("RESOLVED", "LME")

    # Only the owner reopens, with a reason; the complaint goes back to the GRO.
    await flow.refused(OTHER_CITIZEN, "REOPEN", 403, "action_forbidden", comment="still bad")
    await flow.refused(GRO, "REOPEN", 403, "action_forbidden", comment="still bad")
    await flow.refused(CITIZEN, "REOPEN", 400, "comment_required")
    move = await flow.act(CITIZEN, "REOPEN", comment="Still overflowing")
    assert (move.to_state, move.process.assignee_user_id, move.actor_role) == (
        "PENDINGFORASSIGNMENT", None, "CITIZEN")

    await flow.act(GRO, "ASSIGN", assignee=LME_SANITATION)
    await flow.act(LME_SANITATION, "RESOLVE")
    await flow.refused(OTHER_CITIZEN, "RATE", 403, "action_forbidden")
    move = await flow.act(CITIZEN, "RATE", comment="5")
    assert move.to_state == "CLOSEDAFTERRESOLUTION"
    assert move.process.state_sla_due_at is None

    # Nothing happens after the end, and the answer says so.
    for phone, action in ((CITIZEN, "REOPEN"), (GRO, "ASSIGN"), (CITIZEN, "RATE")):
        details = await flow.refused(phone, action, 409, "invalid_action", comment="again")
        assert details == {"state": "CLOSEDAFTERRESOLUTION", "allowed": []}

    rows = await service.history(session, move.process.id)
    assert [(h.action, h.from_state, h.to_state, h.actor_user_id, h.actor_role,
             h.assignee_user_id, h.comment) for h in rows] == [
        ("APPLY", None, "PENDINGFORASSIGNMENT", ids[CITIZEN], "CITIZEN", None,
         "Street light out since Monday"),
        ("ASSIGN", "PENDINGFORASSIGNMENT", "PENDINGATLME", ids[GRO], "GRO",
         ids[LME_ELECTRICAL], "Please check"),
        ("REASSIGN", "PENDINGATLME", "PENDINGFORREASSIGNMENT", ids[LME_ELECTRICAL], "LME", None,
         "Sanitation issue, not lights"),
        ("REASSIGN", "PENDINGFORREASSIGNMENT", "PENDINGATLME", ids[GRO], "GRO",
         ids[LME_SANITATION], None),
        ("RESOLVE", "PENDINGATLME", "RESOLVED", ids[LME_SANITATION], "LME", None,
         "Drain cleared"),
        ("REOPEN", "RESOLVED", "PENDINGFORASSIGNMENT", ids[CITIZEN], "CITIZEN", None,
         "Still overflowing"),
        ("ASSIGN", "PENDINGFORASSIGNMENT", "PENDINGATLME", ids[GRO], "GRO",
         ids[LME_SANITATION], None),
        ("RESOLVE", "PENDINGATLME", "RESOLVED", ids[LME_SANITATION], "LME", None, None),
        ("RATE", "RESOLVED", "CLOSEDAFTERRESOLUTION", ids[CITIZEN], "CITIZEN", None, "5"),
    ]
    times = [h.created_at for h in rows]
    assert times == sorted(times) and all(t.tzinfo is not None for t in times)
    assert before <= times[0] and times[-1] <= utcnow()

    # One event per move, in order, saying who moved what where.
    events_rows = list(await session.scalars(
        select(OutboxEvent).where(OutboxEvent.topic == "workflow.transitioned")
        .order_by(OutboxEvent.id)))
    assert [(e.payload["action"], e.payload["to_state"]) for e in events_rows] == [
        (h.action, h.to_state) for h in rows]
    assign = events_rows[1]
    assert (assign.tenant_code, assign.aggregate_id) == ("uk.dehradun", "TEST-1")
    assert assign.payload == {
        "business_service": "PGR", "business_id": "TEST-1", "action": "ASSIGN",
        "from_state": "PENDINGFORASSIGNMENT", "to_state": "PENDINGATLME",
        "actor_user_id": ids[GRO], "actor_role": "GRO",
        "assignee_user_id": ids[LME_ELECTRICAL], "owner_user_id": ids[CITIZEN],
    }


@pytest.mark.parametrize("final", ["RATE", "REOPEN"])
async def test_rejection_path(session, people, events, final):
    flow = Flow(session, people, events)
    await flow.start()
    await flow.refused(GRO, "REJECT", 400, "comment_required")
    await flow.refused(LME_ELECTRICAL, "REJECT", 403, "action_forbidden", comment="dup")
    move = await flow.act(GRO, "REJECT", comment="Duplicate of TEST-0")
    assert (move.to_state, move.process.state_sla_due_at) == ("REJECTED", None)
    if final == "RATE":
        move = await flow.act(CITIZEN, "RATE")
        assert (move.to_state, move.process.state_sla_due_at) == ("CLOSEDAFTERREJECTION", None)
        details = await flow.refused(CITIZEN, "REOPEN", 409, "invalid_action", comment="x")
        assert details["allowed"] == []
    else:
        move = await flow.act(CITIZEN, "REOPEN", comment="It is not a duplicate")
        assert move.to_state == "PENDINGFORASSIGNMENT"
        # Rejected again from the reassignment queue too.
        await flow.act(GRO, "ASSIGN", assignee=LME_ELECTRICAL)
        await flow.act(LME_ELECTRICAL, "REASSIGN", comment="Wrong department")
        move = await flow.act(GRO, "REJECT", comment="Private property")
        assert move.to_state == "REJECTED"


async def test_assignee_must_be_an_active_lme_of_the_tenant(session, people, events):
    await people.add_haridwar_staff()
    inactive = await people.user(LME_SANITATION)
    inactive.active = False
    flow = Flow(session, people, events)
    await flow.start()
    cases = [REGISTRAR, GRO, HARIDWAR_LME, CITIZEN, LME_SANITATION, ADMIN]
    for assignee in cases:
        await flow.refused(GRO, "ASSIGN", 400, "invalid_assignee", assignee=assignee)
    with pytest.raises(APIError) as unknown:
        await service.transition(session, business_service=PGR, business_id="TEST-1",
                                 action="ASSIGN", principal=await people.principal(GRO),
                                 assignee_id=987654)
    assert unknown.value.code == "invalid_assignee"
    # An LME whose grant is on the whole state counts as an LME of every ULB.
    lme = await people.user(HARIDWAR_LME)
    lme.roles[0].tenant_code = "uk"
    move = await flow.act(GRO, "ASSIGN", assignee=HARIDWAR_LME)
    assert move.process.assignee_user_id == lme.id


async def test_available_actions_per_principal(session, people, events):
    await people.add_haridwar_staff()
    flow = Flow(session, people, events)
    definition = await service.get_definition(session, PGR)

    async def actions() -> dict[str, list[str]]:
        process = await service.load_process(session, PGR, "TEST-1")
        return {phone: service.available_actions(definition, process,
                                                 await people.principal(phone))
                for phone in (CITIZEN, OTHER_CITIZEN, GRO, LME_ELECTRICAL, LME_SANITATION,
                              REGISTRAR, ADMIN, HARIDWAR_LME)}

    nobody = {OTHER_CITIZEN: [], REGISTRAR: [], ADMIN: [], HARIDWAR_LME: []}
    await flow.start()
    assert await actions() == {**nobody, CITIZEN: [], GRO: ["ASSIGN", "REJECT"],
                               LME_ELECTRICAL: [], LME_SANITATION: []}
    await flow.act(GRO, "ASSIGN", assignee=LME_ELECTRICAL)
    assert await actions() == {**nobody, CITIZEN: [], GRO: [],
                               LME_ELECTRICAL: ["RESOLVE", "REASSIGN"], LME_SANITATION: []}
    await flow.act(LME_ELECTRICAL, "REASSIGN", comment="not lights")
    assert await actions() == {**nobody, CITIZEN: [], GRO: ["REASSIGN", "REJECT"],
                               LME_ELECTRICAL: [], LME_SANITATION: []}
    await flow.act(GRO, "REASSIGN", assignee=LME_SANITATION)
    await flow.act(LME_SANITATION, "RESOLVE")
    assert await actions() == {**nobody, CITIZEN: ["REOPEN", "RATE"], GRO: [],
                               LME_ELECTRICAL: [], LME_SANITATION: []}
    await flow.act(CITIZEN, "RATE")
    assert set(map(tuple, (await actions()).values())) == {()}
    assert service.available_actions(
        definition, await service.load_process(session, PGR, "TEST-1"),
        service.SYSTEM_PRINCIPAL) == []


async def test_who_may_file(session, people, events):
    # A CSR files for a citizen; the citizen owns it and the CSR is recorded as the actor.
    move = await Flow(session, people, events, "TEST-CSR").start(phone=GRO, owner=CITIZEN)
    assert (move.actor_role, move.process.owner_user_id) == ("CSR", await people.id(CITIZEN))
    # A citizen who names no owner files for themselves.
    move = await Flow(session, people, events, "TEST-OWN").start(owner=None)
    assert move.process.owner_user_id == await people.id(CITIZEN)
    moves = Flow(session, people, events, "TEST-OWN")
    await moves.act(GRO, "REJECT", comment="test")
    await moves.refused(OTHER_CITIZEN, "RATE", 403, "action_forbidden")
    await moves.act(CITIZEN, "RATE")

    refusals = [
        (OTHER_CITIZEN, CITIZEN, "TEST-FOR-OTHER", 403, "action_forbidden"),  # for someone else
        (LME_ELECTRICAL, CITIZEN, "TEST-LME", 403, "action_forbidden"),
        (CITIZEN, CITIZEN, "TEST-OWN", 409, "process_exists"),  # filed already
    ]
    for phone, owner, business_id, status, code in refusals:
        before = await events(session)
        with pytest.raises(APIError) as refused:
            await service.start(session, business_service=PGR, business_id=business_id,
                                tenant_code="uk.dehradun",
                                principal=await people.principal(phone),
                                owner_user_id=await people.id(owner))
        assert (refused.value.status_code, refused.value.code) == (status, code)
        assert await events(session) == before
    assert await session.scalar(select(ProcessInstance.id).where(
        ProcessInstance.business_id.in_(["TEST-FOR-OTHER", "TEST-LME"]))) is None

    with pytest.raises(APIError) as unknown:
        await service.start(session, business_service="NOPE", business_id="X",
                            tenant_code="uk.dehradun", principal=await people.principal(CITIZEN),
                            owner_user_id=None)
    assert (unknown.value.status_code, unknown.value.code) == (404, "unknown_business_service")
    with pytest.raises(APIError) as missing:
        await service.transition(session, business_service=PGR, business_id="TEST-NONE",
                                 action="ASSIGN", principal=await people.principal(GRO))
    assert missing.value.status_code == 404


async def test_hook_runs_inside_each_transition(session, people, events):
    seen = []

    async def hook(hook_session, move, principal, comment):
        assert hook_session is session
        # The history row and the event of this move are already in the transaction.
        seen.append((move.action, move.from_state, move.to_state, move.actor_role,
                     principal.user_id, comment, await events(hook_session, "TEST-1")))

    service.on_transition(PGR, hook)
    baseline = await events(session)  # whatever the demo seed holds
    flow = Flow(session, people, events)
    await flow.start(comment="lamp")
    await flow.act(GRO, "REJECT", comment="dup")
    await flow.refused(GRO, "ASSIGN", 409, "invalid_action", assignee=LME_ELECTRICAL)
    citizen, gro = await people.id(CITIZEN), await people.id(GRO)
    assert seen == [("APPLY", None, "PENDINGFORASSIGNMENT", "CITIZEN", citizen, "lamp", 1),
                    ("REJECT", "PENDINGFORASSIGNMENT", "REJECTED", "GRO", gro, "dup", 2)]

    # Moves and their events share the caller's transaction: a rollback takes both away.
    await session.rollback()
    assert await events(session) == baseline
    assert await session.scalar(select(ProcessInstance.id).where(
        ProcessInstance.business_id == "TEST-1")) is None

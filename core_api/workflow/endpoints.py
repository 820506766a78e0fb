"""Workflow API: business services, a process with its history, and the transition call."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from core_api.auth.deps import CurrentPrincipal, StaffPrincipal
from core_api.auth.principal import Principal
from core_api.db import SessionDep
from core_api.errors import ERROR_RESPONSES, NotFound
from core_api.workflow import service
from core_api.workflow.definition import BusinessServiceDef, bundled_definitions
from core_api.workflow.models import ProcessInstance

router = APIRouter(prefix="/workflow", tags=["workflow"], responses=ERROR_RESPONSES)


class HistoryOut(BaseModel):
    action: str
    from_state: str | None
    to_state: str
    actor_user_id: int | None
    actor_role: str
    assignee_user_id: int | None
    comment: str | None
    documents: list[Any]
    at: datetime


class ProcessOut(BaseModel):
    business_service: str
    business_id: str
    tenant_code: str
    state: str
    assignee_user_id: int | None
    sla_due_at: datetime | None
    state_sla_due_at: datetime | None
    escalated: bool
    actions: list[str] = Field(description="Actions the caller may take now")
    history: list[HistoryOut]


class TransitionIn(BaseModel):
    action: str = Field(examples=["ASSIGN"])
    comment: str | None = Field(None, max_length=2000)
    assignee_id: int | None = None
    documents: list[str] = Field(default_factory=list, max_length=5)


def _visible(process: ProcessInstance, principal: Principal) -> bool:
    if principal.is_citizen:
        return principal.user_id is not None and process.owner_user_id == principal.user_id
    return principal.is_staff and principal.can_see_tenant(process.tenant_code)


async def process_out(
    session: SessionDep, process: ProcessInstance, principal: Principal
) -> ProcessOut:
    definition = await service.get_definition(session, process.business_service)
    return ProcessOut(
        business_service=process.business_service,
        business_id=process.business_id,
        tenant_code=process.tenant_code,
        state=process.state,
        assignee_user_id=process.assignee_user_id,
        sla_due_at=process.sla_due_at,
        state_sla_due_at=process.state_sla_due_at,
        escalated=process.escalated,
        actions=service.available_actions(definition, process, principal),
        history=[
            HistoryOut(
                action=h.action, from_state=h.from_state, to_state=h.to_state,
                actor_user_id=h.actor_user_id, actor_role=h.actor_role,
                assignee_user_id=h.assignee_user_id, comment=h.comment,
                documents=h.documents, at=h.created_at,
            )
            for h in process.history
        ],
    )


@router.get("/business-services", response_model=list[BusinessServiceDef],
            summary="Workflow definitions (states, actions, roles, SLA)")
async def list_business_services(
    session: SessionDep, _principal: StaffPrincipal
) -> list[BusinessServiceDef]:
    return [await service.get_definition(session, code) for code in bundled_definitions()]


@router.get("/processes/{business_service}/{business_id}", response_model=ProcessOut,
            summary="A process with its full history")
async def get_process(
    business_service: str, business_id: str, session: SessionDep, principal: CurrentPrincipal
) -> ProcessOut:
    process = await service.load_process(session, business_service, business_id)
    if not _visible(process, principal):
        raise NotFound(f"No {business_service} process for {business_id}.")
    return await process_out(session, process, principal)


@router.post("/processes/{business_service}/{business_id}/transition", response_model=ProcessOut,
             summary="Take a workflow action (roles, assignee and comment rules enforced)")
async def transition(
    business_service: str,
    business_id: str,
    body: TransitionIn,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> ProcessOut:
    process = await service.load_process(session, business_service, business_id)
    if not _visible(process, principal):
        raise NotFound(f"No {business_service} process for {business_id}.")
    move = await service.transition(
        session,
        business_service=business_service,
        business_id=business_id,
        action=body.action,
        principal=principal,
        comment=body.comment,
        assignee_id=body.assignee_id,
        documents=body.documents,
    )
    refreshed = await service.load_process(session, business_service, move.process.business_id)
    return await process_out(session, refreshed, principal)

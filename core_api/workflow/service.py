"""The workflow engine: start a process, take an action, enforce roles, assignees and SLAs.

Every transition writes a history row and a ``workflow.transitioned`` outbox event in
the caller's transaction. Domain services (complaints, certificates) call ``start`` and
``transition`` and add their own domain events next to it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from core_api import reference
from core_api.auth.principal import Principal
from core_api.db import utcnow
from core_api.errors import BadRequest, Conflict, Forbidden, NotFound
from core_api.events.outbox import emit
from core_api.users.models import User, UserKind
from core_api.workflow.definition import (
    CITIZEN,
    START,
    SYSTEM,
    BusinessServiceDef,
    bundled_definitions,
    parse_definition,
)
from core_api.workflow.models import BusinessService, ProcessHistory, ProcessInstance

SYSTEM_PRINCIPAL = Principal(kind="system")

# Definitions change rarely; cache the parsed form per (code, version).
_parsed: dict[tuple[str, int], BusinessServiceDef] = {}

TransitionHook = Callable[[AsyncSession, "Move", Principal, str | None], Awaitable[None]]
_hooks: dict[str, TransitionHook] = {}


def on_transition(business_service: str, hook: TransitionHook) -> None:
    """Register the domain reaction to every move of ``business_service`` (one per service).

    The hook runs inside the transition's transaction, so a domain status column and its
    events stay in step with the workflow whichever endpoint took the action.
    """
    _hooks[business_service] = hook


async def get_definition(session: AsyncSession, code: str) -> BusinessServiceDef:
    """The business service ``code`` as stored (seeded from the bundled YAML); read through
    the reference cache, so a hot path does not select it each time."""
    stored: dict[str, tuple[int, dict[str, Any]]] = await reference.cached(
        session, "workflow_definitions", _stored_definitions)
    if code not in stored:
        bundled = bundled_definitions().get(code)
        if bundled is None:
            raise NotFound(f"No business service {code}.", code="unknown_business_service")
        return bundled
    version, data = stored[code]
    key = (code, version)
    if key not in _parsed:
        _parsed[key] = parse_definition(data)
    return _parsed[key]


async def _stored_definitions(session: AsyncSession) -> dict[str, tuple[int, dict[str, Any]]]:
    table = BusinessService.__table__
    connection = await session.connection()
    rows = await connection.execute(select(table.c.code, table.c.version, table.c.definition))
    return {code: (version, definition) for code, version, definition in rows}


@dataclass(frozen=True)
class Move:
    """The outcome of a transition, for callers that react to it."""

    process: ProcessInstance
    action: str
    from_state: str | None
    to_state: str
    actor_role: str
    # The business object a new process was started for, when its creator passed it:
    # the transition hook then uses it instead of reading it again.
    subject: Any = None


def _role_used(
    definition_roles: list[str], principal: Principal, process: ProcessInstance
) -> str | None:
    """Which of the action's roles the caller acts in, or None when none applies."""
    if principal.kind == "system":
        return SYSTEM if SYSTEM in definition_roles else None
    for role in definition_roles:
        if role == CITIZEN:
            # Only the owner: a process without an owner belongs to no citizen.
            if principal.is_citizen and principal.user_id is not None and (
                process.owner_user_id == principal.user_id
            ):
                return CITIZEN
        elif role != SYSTEM and principal.has_role(role, process.tenant_code):
            return role
    return None


async def _check_assignee(
    session: AsyncSession, assignee_id: int | None, role: str, tenant_code: str
) -> User:
    if assignee_id is None:
        raise BadRequest("Choose an employee to assign.", code="assignee_required")
    user = await session.get(User, assignee_id)
    if (
        user is None
        or not user.active
        or user.kind != UserKind.EMPLOYEE
        or not Principal(kind="employee", grants=tuple((r.role, r.tenant_code) for r in user.roles))
        .has_role(role, tenant_code)
    ):
        raise BadRequest(
            f"The assignee must be an active {role} of this tenant.", code="invalid_assignee"
        )
    return user


def _due(now: datetime, hours: int | None) -> datetime | None:
    return now + timedelta(hours=hours) if hours else None


async def start(
    session: AsyncSession,
    *,
    business_service: str,
    business_id: str,
    tenant_code: str,
    principal: Principal,
    owner_user_id: int | None,
    sla_hours: int | None = None,
    comment: str | None = None,
    documents: list[Any] | None = None,
    subject: Any = None,
) -> Move:
    """Create the process for a new business object with the start action.

    A citizen who names no owner files for themselves. ``subject``: the business object
    itself, just created in this session (its id is new, so no process can exist for it
    yet; the hook receives it in ``Move.subject``). Without it, an existing process is
    looked for first and refused with 409.
    """
    definition = await get_definition(session, business_service)
    if subject is None and await session.scalar(select(ProcessInstance.id).where(
        ProcessInstance.business_service == business_service,
        ProcessInstance.business_id == business_id,
    )) is not None:
        raise Conflict(f"{business_service} {business_id} has a process already.",
                       code="process_exists")
    if owner_user_id is None and principal.is_citizen:
        owner_user_id = principal.user_id
    process = ProcessInstance(
        business_service=business_service,
        business_id=business_id,
        tenant_code=tenant_code,
        state=START,
        owner_user_id=owner_user_id,
    )
    now = utcnow()
    process.sla_due_at = _due(now, sla_hours or definition.sla_hours)
    return await _apply(
        session, definition, process, definition.start_action, principal,
        comment=comment, documents=documents, assignee_id=None, now=now, new=True,
        subject=subject,
    )


async def load_process(
    session: AsyncSession, business_service: str, business_id: str, *, for_update: bool = False
) -> ProcessInstance:
    """The process of one business object, with its history loaded."""
    query = (
        select(ProcessInstance)
        .where(
            ProcessInstance.business_service == business_service,
            ProcessInstance.business_id == business_id,
        )
        .options(selectinload(ProcessInstance.history))
        .execution_options(populate_existing=True)
    )
    if for_update:
        query = query.with_for_update()
    process = await session.scalar(query)
    if process is None:
        raise NotFound(f"No {business_service} process for {business_id}.")
    return process


async def transition(
    session: AsyncSession,
    *,
    business_service: str,
    business_id: str,
    action: str,
    principal: Principal,
    comment: str | None = None,
    assignee_id: int | None = None,
    documents: list[Any] | None = None,
) -> Move:
    """Take ``action`` on the object's process, enforcing the definition's rules."""
    definition = await get_definition(session, business_service)
    process = await load_process(session, business_service, business_id, for_update=True)
    return await _apply(
        session, definition, process, action, principal,
        comment=comment, documents=documents, assignee_id=assignee_id, now=utcnow(), new=False,
    )


def available_actions(
    definition: BusinessServiceDef, process: ProcessInstance, principal: Principal
) -> list[str]:
    """The actions ``principal`` may take now (for menus and the API)."""
    result = []
    for name, action in definition.state(process.state).actions.items():
        if _role_used(action.roles, principal, process) is None:
            continue
        if action.assignee_only and process.assignee_user_id != principal.user_id:
            continue
        result.append(name)
    return result


async def _apply(
    session: AsyncSession,
    definition: BusinessServiceDef,
    process: ProcessInstance,
    action_name: str,
    principal: Principal,
    *,
    comment: str | None,
    documents: list[Any] | None,
    assignee_id: int | None,
    now: datetime,
    new: bool,
    subject: Any = None,
) -> Move:
    state = definition.state(process.state)
    action = state.actions.get(action_name)
    if action is None:
        allowed = ", ".join(state.actions) or "none (the process has ended)"
        raise Conflict(
            f"{action_name} is not possible in state {process.state}; possible: {allowed}.",
            code="invalid_action",
            details={"state": process.state, "allowed": list(state.actions)},
        )
    role = _role_used(action.roles, principal, process)
    if role is None:
        raise Forbidden(f"You may not {action_name} here.", code="action_forbidden")
    if action.assignee_only and role != SYSTEM and process.assignee_user_id != principal.user_id:
        raise Forbidden("Only the assigned employee may do this.", code="not_assignee")
    if action.comment_required and not (comment and comment.strip()):
        raise BadRequest("A comment (reason) is required for this action.",
                         code="comment_required")
    if action.assignee_role:
        assignee = await _check_assignee(session, assignee_id, action.assignee_role,
                                         process.tenant_code)
        process.assignee_user_id = assignee.id
    elif assignee_id is not None:
        raise BadRequest(f"{action_name} takes no assignee.", code="unexpected_assignee")

    from_state = None if new else process.state
    next_state = definition.state(action.next)
    process.state = action.next
    process.updated_at = now
    process.state_sla_due_at = _due(now, next_state.sla_hours)
    process.escalated = False  # a new state visit: its own warning and escalation levels
    process.escalation_level = 0
    process.escalated_at = None
    process.sla_warned = False
    if next_state.unassigned:
        process.assignee_user_id = None
    if new:
        session.add(process)
        await session.flush()
    entry = ProcessHistory(
        process_id=process.id,
        action=action_name,
        from_state=from_state,
        to_state=action.next,
        actor_user_id=principal.user_id,
        actor_role=role,
        assignee_user_id=process.assignee_user_id if action.assignee_role else None,
        comment=(comment or "").strip() or None,
        documents=documents or [],
        created_at=now,
    )
    session.add(entry)
    emit(
        session,
        "workflow.transitioned",
        process.tenant_code,
        process.business_id,
        {
            "business_service": process.business_service,
            "business_id": process.business_id,
            "action": action_name,
            "from_state": from_state,
            "to_state": action.next,
            "actor_user_id": principal.user_id,
            "actor_role": role,
            "assignee_user_id": process.assignee_user_id,
            "owner_user_id": process.owner_user_id,
        },
    )
    # No flush here: the history row and the event go out with the next flush, in one
    # multi-row INSERT with the domain's own events (the next query autoflushes).
    move = Move(process=process, action=action_name, from_state=from_state,
                to_state=action.next, actor_role=role, subject=subject)
    hook = _hooks.get(process.business_service)
    if hook is not None:
        await hook(session, move, principal, comment)
    return move


async def history(session: AsyncSession, process_id: int) -> list[ProcessHistory]:
    """The transitions of a process, oldest first."""
    rows = await session.scalars(
        select(ProcessHistory).where(ProcessHistory.process_id == process_id)
        .order_by(ProcessHistory.id)
    )
    return list(rows)


async def sync_definitions(session: AsyncSession) -> list[str]:
    """Store the bundled definitions (new or changed ones get a new version)."""
    changed = []
    for code, definition in bundled_definitions().items():
        data = definition.model_dump(mode="json")
        row = await session.get(BusinessService, code)
        if row is None:
            session.add(BusinessService(code=code, version=1, definition=data))
            changed.append(code)
        elif row.definition != data:
            row.definition = data
            row.version += 1
            changed.append(code)
    await session.flush()
    reference.invalidate()
    return changed

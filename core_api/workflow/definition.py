"""Business service definitions: typed, validated at load time, read from YAML files."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, PositiveInt, field_validator, model_validator

from core_api.users.models import Role

DEFINITIONS_DIR = Path(__file__).parent / "definitions"
START = "_start"
CITIZEN = "CITIZEN"  # pseudo-role: the owner of the process
SYSTEM = "SYSTEM"  # pseudo-role: Samvad itself
STAFF_ROLES = frozenset(str(role) for role in Role)


class ActionDef(BaseModel):
    next: str
    roles: list[str] = Field(min_length=1)
    assignee_role: str | None = None  # the action names an assignee holding this role
    assignee_only: bool = False  # only the current assignee may act
    comment_required: bool = False

    # A misspelt role would silently lock everybody out of the action: refuse it at load.
    @field_validator("roles")
    @classmethod
    def _known_roles(cls, roles: list[str]) -> list[str]:
        unknown = sorted(set(roles) - STAFF_ROLES - {CITIZEN, SYSTEM})
        if unknown:
            raise ValueError(f"unknown role {', '.join(unknown)}")
        return roles

    @field_validator("assignee_role")
    @classmethod
    def _staff_assignee(cls, role: str | None) -> str | None:
        if role is not None and role not in STAFF_ROLES:
            raise ValueError(f"assignee role {role} is not a staff role")
        return role


class StateDef(BaseModel):
    sla_hours: PositiveInt | None = None
    terminal: bool = False
    unassigned: bool = False  # entering this state clears the assignee
    actions: dict[str, ActionDef] = Field(default_factory=dict)


class BusinessServiceDef(BaseModel):
    """A workflow as data: states, the actions leaving each, who may take them, SLAs."""

    code: str
    start_action: str = "APPLY"
    sla_hours: PositiveInt | None = None
    states: dict[str, StateDef]

    @model_validator(mode="after")
    def _check(self) -> BusinessServiceDef:
        if START not in self.states:
            raise ValueError(f"{self.code}: no {START} state")
        if self.start_action not in self.states[START].actions:
            raise ValueError(f"{self.code}: start action {self.start_action} not in {START}")
        for name, state in self.states.items():
            if state.terminal and state.actions:
                raise ValueError(f"{self.code}: terminal state {name} has actions")
            for action_name, action in state.actions.items():
                if action.next not in self.states or action.next == START:
                    raise ValueError(f"{self.code}: {name}.{action_name} -> unknown {action.next}")
        return self

    def state(self, name: str | None) -> StateDef:
        return self.states[name or START]

    @property
    def first_state(self) -> str:
        """The state a new process is in after its start action."""
        return self.states[START].actions[self.start_action].next

    def action(self, state: str | None, action: str) -> ActionDef | None:
        return self.state(state).actions.get(action)


def parse_definition(data: dict[str, Any]) -> BusinessServiceDef:
    return BusinessServiceDef.model_validate(data)


@cache
def bundled_definitions() -> dict[str, BusinessServiceDef]:
    """The definitions shipped in ``definitions/*.yaml``, by code."""
    result = {}
    for path in sorted(DEFINITIONS_DIR.glob("*.yaml")):
        definition = parse_definition(yaml.safe_load(path.read_text(encoding="utf-8")))
        result[definition.code] = definition
    return result

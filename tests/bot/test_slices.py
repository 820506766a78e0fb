"""Flow slices: the registries built from flows/<id>/actions.py and bot/shared_actions.py,
what belongs where, and the NLU intents flows declare."""

from __future__ import annotations

import re
from collections import defaultdict
from types import ModuleType

import pytest

from bot.flowspec import FlowDef, intent_flows
from bot.slices import SliceError, actions_modules, load_slices, merge_actions


def _users() -> dict[str, set[str]]:
    """Operation or helper name -> the flows whose steps name it (``call``, ``do``, the
    ``names`` of options from data)."""
    users: dict[str, set[str]] = defaultdict(set)
    for flow in load_slices().flows.values():
        for step in flow.steps.values():
            source = step.input.options_from if step.input else None
            for name in (step.call, step.do, source.names if source else None):
                if name:
                    users[name].add(flow.id)
    return users


def test_every_call_and_do_step_names_a_registered_action() -> None:
    slices = load_slices()
    for flow in slices.flows.values():
        for step_id, step in flow.steps.items():
            assert step.call is None or step.call in slices.operations, (flow.id, step_id)
            assert step.do is None or step.do in slices.helpers, (flow.id, step_id)


def test_a_slice_holds_what_only_its_flow_uses_and_shared_code_serves_several_flows() -> None:
    users = _users()
    for where, module in actions_modules().items():
        declared = {**getattr(module, "OPERATIONS", {}), **getattr(module, "HELPERS", {})}
        assert declared, f"{where} declares nothing"
        for name in declared:
            if where == "bot/shared_actions.py":
                assert len(users[name]) >= 2, f"{name} is shared but used by {users[name]}"
            else:
                owner = where.split("/")[1]
                assert users[name] <= {owner}, f"{name} of {where} is used by {users[name]}"


def test_a_name_declared_in_two_places_is_an_error_naming_both() -> None:
    async def op(*_args: object) -> None:
        return None

    first, second = ModuleType("first"), ModuleType("second")
    first.OPERATIONS = {"tanker_request": op}  # type: ignore[attr-defined]
    second.OPERATIONS = {"tanker_request": op}  # type: ignore[attr-defined]
    both = ("operation 'tanker_request' is declared in both flows/a/actions.py and "
            "flows/b/actions.py")
    with pytest.raises(SliceError, match=re.escape(both)):
        merge_actions({"flows/a/actions.py": first, "flows/b/actions.py": second})
    second.OPERATIONS = ["tanker_request"]  # type: ignore[attr-defined]
    with pytest.raises(SliceError, match="OPERATIONS must be a dict"):
        merge_actions({"flows/a/actions.py": first, "flows/b/actions.py": second})


def test_flows_declare_the_intents_named_otherwise_and_an_intent_has_one_flow() -> None:
    assert load_slices().intents == {"view_receipts": "receipts",
                                     "request_certificate": "certificate_request",
                                     "greet": "main_menu"}

    def flow(flow_id: str) -> FlowDef:
        return FlowDef.model_validate({"spec_version": 1, "id": flow_id, "start": "s",
                                       "intents": ["tanker"], "steps": {"s": {"say": "x"}}})

    with pytest.raises(ValueError, match="intent 'tanker' is declared by flows a and b"):
        intent_flows({"a": flow("a"), "b": flow("b")})

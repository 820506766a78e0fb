"""Workflow definitions are data: the loader refuses broken ones before they reach a city."""

from __future__ import annotations

import copy

import pytest
from pydantic import ValidationError

from core_api.workflow.definition import bundled_definitions, parse_definition

VALID = {
    "code": "MINI",
    "sla_hours": 10,
    "states": {
        "_start": {"actions": {"APPLY": {"next": "OPEN", "roles": ["CITIZEN"]}}},
        "OPEN": {"sla_hours": 2, "unassigned": True, "actions": {
            "ASSIGN": {"next": "WORKING", "roles": ["GRO"], "assignee_role": "LME"},
            "CLOSE": {"next": "DONE", "roles": ["GRO", "SYSTEM"], "comment_required": True},
        }},
        "WORKING": {"actions": {
            "FINISH": {"next": "DONE", "roles": ["LME"], "assignee_only": True}}},
        "DONE": {"terminal": True},
    },
}


def broken(change) -> dict:
    data = copy.deepcopy(VALID)
    change(data)
    return data


def test_a_valid_definition_loads():
    definition = parse_definition(VALID)
    assert definition.start_action == "APPLY"
    assert definition.action(None, "APPLY").next == "OPEN"
    assert definition.action("OPEN", "ASSIGN").assignee_role == "LME"
    assert definition.action("WORKING", "CLOSE") is None
    assert definition.state("DONE").terminal and not definition.state("DONE").actions


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["states"]["OPEN"]["actions"]["ASSIGN"].update(next="NOWHERE"),
         "unknown NOWHERE"),
        (lambda d: d["states"]["WORKING"]["actions"]["FINISH"].update(next="_start"),
         "unknown _start"),
        (lambda d: d["states"]["DONE"].update(actions={"REOPEN": {"next": "OPEN",
                                                                  "roles": ["CITIZEN"]}}),
         "terminal state DONE has actions"),
        (lambda d: d["states"].pop("_start"), "no _start state"),
        (lambda d: d.update(start_action="FILE"), "start action FILE"),
        (lambda d: d["states"]["OPEN"]["actions"]["CLOSE"].update(roles=["GROO"]),
         "unknown role GROO"),
        (lambda d: d["states"]["OPEN"]["actions"]["CLOSE"].update(roles=[]), "at least 1 item"),
        (lambda d: d["states"]["OPEN"]["actions"]["ASSIGN"].update(assignee_role="CITIZEN"),
         "assignee role CITIZEN"),
        (lambda d: d["states"]["OPEN"].update(sla_hours=-1), "greater than 0"),
        (lambda d: d["states"]["OPEN"]["actions"]["ASSIGN"].pop("next"), "Field required"),
    ],
)
def test_broken_definitions_are_refused(change, message):
    with pytest.raises(ValidationError, match=message):
        parse_definition(broken(change))


def test_bundled_definitions():
    definitions = bundled_definitions()
    assert set(definitions) >= {"PGR", "BND-CERT"}
    pgr = definitions["PGR"]
    transitions = {(state, action, a.next) for state, s in pgr.states.items()
                   for action, a in s.actions.items()}
    assert transitions == {
        ("_start", "APPLY", "PENDINGFORASSIGNMENT"),
        ("PENDINGFORASSIGNMENT", "ASSIGN", "PENDINGATLME"),
        ("PENDINGFORASSIGNMENT", "REJECT", "REJECTED"),
        ("PENDINGATLME", "RESOLVE", "RESOLVED"),
        ("PENDINGATLME", "REASSIGN", "PENDINGFORREASSIGNMENT"),
        ("PENDINGFORREASSIGNMENT", "REASSIGN", "PENDINGATLME"),
        ("PENDINGFORREASSIGNMENT", "REJECT", "REJECTED"),
        ("RESOLVED", "REOPEN", "PENDINGFORASSIGNMENT"),
        ("RESOLVED", "RATE", "CLOSEDAFTERRESOLUTION"),
        ("RESOLVED", "AUTOCLOSE", "CLOSEDAFTERRESOLUTION"),
        ("REJECTED", "REOPEN", "PENDINGFORASSIGNMENT"),
        ("REJECTED", "RATE", "CLOSEDAFTERREJECTION"),
    }
    assert pgr.action("RESOLVED", "AUTOCLOSE").roles == ["SYSTEM"]  # only the sweep closes
    assert {name for name, s in pgr.states.items() if s.terminal} == {
        "CLOSEDAFTERRESOLUTION", "CLOSEDAFTERREJECTION"}
    # Every state is reachable from the start.
    for definition in definitions.values():
        reached, frontier = {"_start"}, ["_start"]
        while frontier:
            for action in definition.states[frontier.pop()].actions.values():
                if action.next not in reached:
                    reached.add(action.next)
                    frontier.append(action.next)
        assert reached == set(definition.states), definition.code

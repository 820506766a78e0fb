"""Every step kind of ``bot.steps.STEP_KINDS`` against its cases in ``bot/steps/cases/``.

A cases file ``<kind>.yaml`` is a list of cases; each is a tiny flow run through the real
``Engine`` for one inbound message, with fake services (core-API results from the case,
a fixed clock, an NLU that understands nothing)::

    - name: a typed number picks the option at that place
      channel: sms                     # the inbound's channel (default whatsapp)
      slots: {ward: W1}                # the session's slots before the message
      retries: 0                       # wrong answers already given to the question
      steps:                           # the steps of the flow "case"
        pick: {ask: "Which one?", input: {type: choice, options: [...]}, next: done}
        done: {ask: "Done", input: {type: text}}
      send: "2"                        # text; or {text, option_id, kind, location: {lat, lng}}
      calls:                           # what the core API answers, by operation
        find_bills: {result: {n: 0}}   #   a result, or {error: not_found, status: 404}
      helpers:                         # ``do`` helpers by name: the slots each returns
        pick_ward: {ward: W2, _next: done}
      expect:
        replies:                       # every message sent, in order: its text, or
          - "Done"                     #   {text, options: {id: label}, media: [url],
                                       #    request_location: true}
        at: done                       # the question the person is at afterwards (a step
                                       #   of "case", or main_menu.menu)
        slots: {ward: W1, choice: b}   # the session's slots afterwards, exactly
        calls_made:                    # the operations called, in order, with their args
          - find_bills: {consumer_number: "UK-1"}
        effects: [api_failed]          # the turn's effects, exactly

The person waits at the flow's first step, which the message answers. When that step is
not an ``ask``, the case starts one question earlier (``Start?``, a text question leading
to the first step) and ``send`` defaults to "go". The home flow is a single question,
``main_menu.menu`` ("Main menu"), so that going home can be seen. Texts in steps are
message ids; an id no catalog has is sent as written, so cases write texts themselves
(real ids such as ``hint.pick_option`` are sent in English).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.engine import Engine, Turn
from bot.flowspec import FlowDef
from bot.messages import Inbound, Location, Outgoing
from bot.nlu import Understanding
from bot.services import Helper, ServiceError
from bot.session import Session
from bot.steps import STEP_KINDS

CASES_DIR = Path(__file__).resolve().parents[2] / "bot" / "steps" / "cases"
CLOCK = 1_000_000.0
HOME = {"spec_version": 1, "id": "main_menu", "start": "menu",
        "steps": {"menu": {"ask": "Main menu", "input": {"type": "text"}}}}
ENTRY = "_start"


def _cases_of(kind: str) -> list[dict[str, Any]]:
    path = CASES_DIR / f"{kind}.yaml"
    if not path.exists():
        return []
    return yaml.safe_load(path.read_text(encoding="utf-8")) or []


def _all_cases() -> list[Any]:
    return [pytest.param(kind, case, id=f"{kind}: {case['name']}")
            for kind in STEP_KINDS for case in _cases_of(kind)]


class _NoNLU:
    async def understand(self, text: str, locale: str | None) -> Understanding:
        return Understanding()


class CaseServices:
    """The core API as the case describes it; every call is recorded."""

    def __init__(self, answers: dict[str, dict[str, Any]]) -> None:
        self.nlu = _NoNLU()
        self.answers = answers
        self.made: list[dict[str, Any]] = []

    def now(self) -> float:
        return CLOCK

    async def call(self, op: str, args: dict[str, Any], session: Session) -> Any:
        self.made.append({op: args})
        answer = self.answers.get(op)
        assert answer is not None, f"the case does not say what {op} answers"
        if "error" in answer:
            raise ServiceError(answer["error"], "from the case", answer.get("status", 503))
        return answer["result"]


def _helper(returns: dict[str, Any]) -> Helper:
    return lambda slots, session: dict(returns)


def _inbound(channel: str, send: str | dict[str, Any]) -> Inbound:
    if isinstance(send, str):
        return Inbound(channel=channel, sender="+919876500077", text=send)
    fields = dict(send)
    if "location" in fields:
        fields["location"] = Location(**fields["location"])
    return Inbound(channel=channel, sender="+919876500077", **fields)


def _flows(case: dict[str, Any]) -> tuple[dict[str, FlowDef], str]:
    """The case flow (with its entry question when it starts with another kind) and home."""
    steps = dict(case["steps"])
    first = next(iter(steps))
    if "ask" not in steps[first]:
        steps = {ENTRY: {"ask": "Start?", "input": {"type": "text"}, "next": first}, **steps}
        first = ENTRY
    flow = FlowDef.model_validate({"spec_version": 1, "id": "case", "start": first,
                                   "steps": steps})
    return {"case": flow, "main_menu": FlowDef.model_validate(HOME)}, first


def _reply(outgoing: Outgoing, expected: str | dict[str, Any]) -> dict[str, Any]:
    """The parts of ``outgoing`` the expectation names, to compare with it."""
    if isinstance(expected, str):
        return {"text": outgoing.text}
    seen: dict[str, Any] = {"text": outgoing.text}
    if "options" in expected:
        seen["options"] = {o.id: o.label for o in outgoing.options}
    if "descriptions" in expected:
        seen["descriptions"] = {o.id: o.description for o in outgoing.options if o.description}
    if "media" in expected:
        seen["media"] = [m.url for m in outgoing.media]
    if "request_location" in expected:
        seen["request_location"] = outgoing.request_location
    return seen


async def _run(case: dict[str, Any]) -> tuple[Turn, CaseServices]:
    flows, first = _flows(case)
    services = CaseServices(case.get("calls", {}))
    helpers = {name: _helper(returns) for name, returns in case.get("helpers", {}).items()}
    session = Session(flow="case", step=first, slots=dict(case.get("slots", {})),
                      locale="en_IN", user_id=1, last_at=CLOCK, retries=case.get("retries", 0))
    send = case.get("send", "go" if first == ENTRY else None)
    assert send is not None, "an ask case says what the person sends"
    turn = await Engine(flows, helpers).turn(session, _inbound(case.get("channel", "whatsapp"),
                                                               send), services)
    return turn, services


def test_every_step_kind_has_cases():
    """A step kind without cases is untested: adding one means adding its cases file."""
    missing = [kind for kind in STEP_KINDS if not _cases_of(kind)]
    assert not missing, f"no cases in bot/steps/cases/ for: {missing}"


@pytest.mark.parametrize(("kind", "case"), _all_cases())
async def test_step_kind_case(kind: str, case: dict[str, Any]):
    assert any(kind in step for step in case["steps"].values()), f"no {kind} step in the case"
    turn, services = await _run(case)
    expect = case["expect"]
    expected_replies = expect["replies"]
    assert [_reply(o, e) for o, e in zip(turn.replies, expected_replies, strict=False)] == [
        {"text": e} if isinstance(e, str) else e for e in expected_replies]
    assert len(turn.replies) == len(expected_replies), [o.text for o in turn.replies]
    s = turn.session
    flow, _, step = expect["at"].rpartition(".")
    assert (s.flow, s.step) == (flow or "case", step)
    assert s.slots == expect["slots"]
    if "calls_made" in expect:
        assert services.made == expect["calls_made"]
    if "effects" in expect:
        assert turn.effects == expect["effects"]

"""A tap on buttons or a list sent before the last question.

WhatsApp keeps every list in the chat, and people scroll up and tap a row of an earlier
one. A tapped id names the question it answers (``Inbound.asked``, sent with the option as
``channels.render.wire_option_id``), so such a tap is never mistaken for an answer to the
question asked last (an old "Yes" is no answer to a new yes/no question). It is taken
when that question can still be answered with it:

- a question asked before in the flow the person is in (its back history): the
  conversation goes back there as BACK would (the answers given before it kept, its
  list fetched again: ``bot.history``) and takes the tap as the answer;
- the home menu's question: the tapped item starts, as if chosen from the menu now;

and only while the tapped option is still offered there. Any other earlier tap gets a
polite hint and the current question again.
"""

from __future__ import annotations

from dataclasses import replace

from bot import history
from bot.flowspec import StepDef
from bot.messages import Inbound
from bot.session import Session
from bot.steps.context import StepContext
from bot.steps.options import options

EARLIER_LIST_HINT = "hint.earlier_list"


def from_earlier_question(inbound: Inbound, flow: str | None, step: str | None) -> bool:
    """True for a tap on the options of another question than the one at ``flow.step``."""
    return bool(inbound.option_id and inbound.asked) and inbound.asked != f"{flow}.{step}"


async def rewind(ctx: StepContext, inbound: Inbound, home: str) -> bool:
    """Put the conversation back at the question an earlier tap answers, when that
    question can still take it (see the module docstring); False changes nothing. The way
    back is BACK's (``bot.history``): lists kept by recipe are fetched again, and a
    ``ServiceError`` there ends the turn like any failed call."""
    s = ctx.session
    flow_id, _, step_id = (inbound.asked or "").partition(".")
    flow = ctx.flows.get(flow_id)
    step = flow.steps.get(step_id) if flow is not None else None
    if flow is None or step is None or step.kind != "ask":
        return False
    saved = (s.flow, s.step, history.snapshot(s.slots), list(s.back), dict(s.loaded),
             list(s.stack))
    if flow_id == s.flow and _answered_before(s, flow_id, step_id):
        while (entry := history.last(s)) is not None:
            await history.step_back(s, entry, ctx.flows[entry.flow].steps, ctx.services)
            if (entry.flow, entry.step) == (flow_id, step_id):
                break
    elif flow_id == home and step_id == flow.start:
        s.flow, s.step, s.slots, s.stack, s.back = flow_id, step_id, {}, [], []
    else:
        return False
    if (s.flow, s.step) != (flow_id, step_id) or not _offers(ctx, step, inbound.option_id):
        s.flow, s.step, s.slots, s.back, s.loaded, s.stack = saved
        return False
    s.retries = 0
    return True


def _answered_before(s: Session, flow_id: str, step_id: str) -> bool:
    """True when the back history holds question ``flow_id.step_id`` (read, not taken)."""
    probe = replace(s, back=list(s.back))
    while (entry := history.last(probe)) is not None:
        if (entry.flow, entry.step) == (flow_id, step_id):
            return True
        probe.back, probe.flow = probe.back[:-1], entry.flow
    return False


def _offers(ctx: StepContext, step: StepDef, option_id: str | None) -> bool:
    """True when the question ``step`` offers ``option_id`` now."""
    spec = step.input
    if spec is None or spec.type not in ("choice", "yes_no"):
        return False
    return any(option.id == option_id for option in options(ctx, spec))

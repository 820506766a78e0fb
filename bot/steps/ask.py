"""``ask``: send a question and wait for the person's answer; ``save`` it in a slot.

::

    subtype:                              # flows/file_complaint/flow.yaml
      ask: file_complaint.ask_subtype     # the question (a message id); ``params`` fill it
      input:
        type: choice                      # or text, number, phone, consumer_number,
                                          # date, location, image, yes_no
        options_from: {source: types, id: i, label: l}   # options from a list in a slot
        options:                          # then fixed ones
          - {id: other, label: file_complaint.other_category}
        nlu: complaint_types              # free text may name a complaint type
      save: type_code
      next: {other: load_categories, "*": take_type}   # by the saved value, or a step id
      retries: 3                          # wrong answers given a hint; one more: main menu

Reaching an ``ask`` sends the question and ends the turn (options become buttons, a list
or numbered lines; a ``location`` question carries a "send location" request where the
channel has one).
The next message is the answer: a choice is read from a tapped option, its number on
the page shown, its label, a fuzzy match of the label, or what the NLU understood; other
types are parsed by ``bot.inputs``. The engine then saves it and goes on at ``next``, or
(a wrong answer) sends the type's hint and the question again.
"""

from __future__ import annotations

from typing import Any

from rapidfuzz import fuzz

from bot.flowspec import StepDef
from bot.i18n import translate
from bot.inputs import ascii_digits, parse
from bot.messages import Inbound, Option, Outgoing
from bot.nlu import normalize
from bot.steps.context import WAIT, Here, Next, StepContext
from bot.steps.expressions import step_media, step_text
from bot.steps.options import MORE, options, page, turn_page

FUZZY_OPTION_SCORE = 82.0


async def run(ctx: StepContext, here: Here) -> Next:
    """Send the question; the turn then waits for the answer."""
    s, step = ctx.session, here.step
    if s.pending and step.input is not None and step.input.nlu == "intents":
        # The request that opened the conversation, now that we know who it is.
        request, s.pending = s.pending, None
        offered = [o.id for o in options(ctx, step.input)]
        if await ctx.understood(request, allowed=offered):
            return WAIT
    s.flow, s.step, s.retries = here.flow_id, here.step_id, 0
    ctx.replies.append(prompt(ctx, step))
    return WAIT


def prompt(ctx: StepContext, step: StepDef) -> Outgoing:
    """The question of an ``ask`` step, with the options shown now (remembered in order)."""
    s, spec = ctx.session, step.input
    shown: tuple[Option, ...] = ()
    if spec is not None and spec.type in ("choice", "yes_no"):
        shown = tuple(page(ctx, options(ctx, spec)))
        s.shown = [o.id for o in shown]
    return Outgoing(
        step_text(s, step.ask or "", step),
        options=shown,
        request_location=spec is not None and spec.type == "location"
        and ctx.channel.location_request,
        # Short option sets may still become a list (descriptions, long labels).
        list_button=translate(s.locale, "common.choose") if shown else None,
        media=step_media(s, step),
    )


async def read(ctx: StepContext, step: StepDef, inbound: Inbound) -> tuple[Any, str | None] | None:
    """The answer as (value, None) or (None, hint id of what is wrong with it); None when
    there is nothing to save: "More" showed the next page, or the NLU moved elsewhere."""
    spec = step.input
    assert spec is not None
    if spec.type != "choice":
        parsed = parse(spec, inbound, ctx.session.locale)
        return parsed.value, parsed.error
    value, error = await _choose(ctx, step, inbound)
    if ctx.replies:  # the NLU moved the conversation elsewhere
        return None
    if value == MORE:
        ctx.replies.append(prompt(ctx, step))
        return None
    return value, error


async def _choose(ctx: StepContext, step: StepDef, inbound: Inbound) -> tuple[Any, str | None]:
    spec = step.input
    assert spec is not None
    offered = options(ctx, spec)
    visible = page(ctx, offered)
    ids = [o.id for o in offered]
    if inbound.option_id and inbound.option_id in ids:
        return inbound.option_id, None
    text = (inbound.text or "").strip()
    digits = ascii_digits(text).rstrip(".) ")
    chosen: str | None = inbound.option_id if inbound.option_id == MORE else None
    if digits.isdigit():
        index = int(digits) - 1
        if not 0 <= index < len(visible):
            return None, "hint.pick_option"
        chosen = visible[index].id
    if chosen == MORE:
        turn_page(ctx, offered)
        return MORE, None
    if chosen is not None:
        return chosen, None
    normal = normalize(text)
    for option in offered:
        if normalize(option.label) == normal or option.id == normal:
            return option.id, None
    if spec.nlu == "intents":
        if await ctx.understood(text, allowed=ids):
            return None, None
    elif spec.nlu == "complaint_types":
        found = _type_from_text(ctx, text)
        if found and found in ids:
            return found, None
    best, best_score = None, 0.0
    for option in offered:
        score = fuzz.WRatio(normal, normalize(option.label))
        if score > best_score:
            best, best_score = option.id, score
    if best is not None and best_score >= FUZZY_OPTION_SCORE:
        return best, None
    return None, "hint.pick_option"


def _type_from_text(ctx: StepContext, text: str) -> str | None:
    """The complaint type the NLU's matcher finds in ``text`` (when it has one)."""
    matcher = getattr(ctx.services.nlu, "complaint_type", None)
    if matcher is None:
        return None
    code, _score = matcher(text)
    return code

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
the page shown, one of its names in any language (for options from data, as the
``names`` operation gives them), what the NLU understood, or a name typed with typos
(``bot.steps.options``); with ``typed: slot`` text that names no option is kept there and
answers ``typed`` (a new place search at "did you mean"). Other types are parsed by
``bot.inputs``. The engine then saves it and goes on at ``next``, or
(a wrong answer) sends the type's hint and the question again.
"""

from __future__ import annotations

from typing import Any

from bot.flowspec import StepDef
from bot.i18n import translate
from bot.inputs import ascii_digits, parse
from bot.messages import Inbound, Option, Outgoing
from bot.screen import tap_id
from bot.services import ServiceError
from bot.steps.context import WAIT, Here, Next, StepContext
from bot.steps.expressions import step_media, step_text
from bot.steps.options import MORE, closest, named, option_names, options, page, turn_page

TYPED = "typed"  # the answer when text naming no option is kept (``input.typed``)
MIN_TYPED_LETTERS = 2


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
        tap_text=step_text(s, tapped, step) if (tapped := tap_id(step.ask or "")) else None,
        question=f"{s.flow}.{s.step}" if s.flow and s.step else None,
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
    if inbound.option_id == MORE:
        return _more(ctx, offered)
    if digits.isdigit():
        index = int(digits) - 1
        if not 0 <= index < len(visible):
            return None, "hint.pick_option"
        return _more(ctx, offered) if visible[index].id == MORE else (visible[index].id, None)
    names = option_names(ctx, spec, visible)
    chosen = named(text, names)
    if chosen is None and spec.options_from is not None and spec.options_from.names:
        names = await _with_data_names(ctx, spec.options_from.names, names)
        chosen = named(text, names)
    if chosen is None:
        if spec.nlu == "intents":
            if await ctx.understood(text, allowed=ids):
                return None, None
        elif spec.nlu == "complaint_types":
            found = _type_from_text(ctx, text)
            if found and found in ids:
                return found, None
        chosen = closest(text, names)
    if chosen == MORE:
        return _more(ctx, offered)
    if chosen is not None:
        return chosen, None
    if spec.typed and sum(char.isalpha() for char in text) >= MIN_TYPED_LETTERS:
        ctx.session.slots[spec.typed] = text  # e.g. another place: searched for next
        return TYPED, None
    return None, "hint.pick_option"


async def _with_data_names(ctx: StepContext, operation: str,
                           names: dict[str, list[str]]) -> dict[str, list[str]]:
    """``names`` with what ``operation`` gives for the options (their names in every
    language); as they were when it cannot answer now."""
    try:
        found = await ctx.services.call(operation, {"ids": list(names)}, ctx.session)
    except ServiceError:
        return names
    return {option: [*known, *(found or {}).get(option, [])] for option, known in names.items()}


def _more(ctx: StepContext, offered: list[Option]) -> tuple[Any, str | None]:
    """"More" was chosen: the next page of options is shown."""
    turn_page(ctx, offered)
    return MORE, None


def _type_from_text(ctx: StepContext, text: str) -> str | None:
    """The complaint type the NLU's matcher finds in ``text`` (when it has one)."""
    matcher = getattr(ctx.services.nlu, "complaint_type", None)
    if matcher is None:
        return None
    code, _score = matcher(text)
    return code

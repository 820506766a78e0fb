"""``samvad flows check``: every flow loads, every reference resolves, every prompt fits.

Checks: the schema (at load), unknown steps and flows, unreachable steps, message ids
missing in any locale that has a catalog, unknown core-API operations and helpers, an NLU
intent two flows declare,
(when a measure is given) the segment budget of every prompt in every locale on each
channel kind that has one (SMS), and (when the
WhatsApp template mapping is given) every notification kind of
``bot.notifier.NOTIFICATION_KINDS``: a template in every locale and its messages in every
catalog.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pydantic import ValidationError

from bot.channel_kinds import Capabilities, capabilities, channel_kinds
from bot.flowspec import (
    FLOWS_DIR,
    FlowDef,
    StepDef,
    expressions,
    flow_files,
    intent_flows,
    load_flow,
)
from bot.i18n import available_locales, has_message, language_menu, placeholders, translate
from bot.messages import Option, Outgoing
from bot.notifier import NOTIFICATION_KINDS

# Message ids the engine itself uses (not named in any flow).
ENGINE_MESSAGES = (
    "global.started", "global.stopped", "global.restarted", "global.help", "global.resume",
    "global.resume_continue", "global.resume_restart", "global.too_many_tries",
    "global.try_again", "hint.unsupported_media", "hint.empty", "hint.too_long",
    "hint.emoji_only", "hint.need_text", "hint.pick_option", "common.yes", "common.no",
    "common.choose", "common.more", "nlu.did_you_mean", "words.menu", "words.back",
    "words.help", "words.language",
    "words.stop", "words.start", "words.skip", "words.yes", "words.no",
    "input.too_short", "input.too_long", "input.need_number", "input.number_out_of_range",
    "input.need_phone", "input.need_consumer_number", "input.need_date",
    "input.date_in_future", "input.need_location", "input.need_photo", "input.need_yes_no",
)

# Segments a message takes on a channel kind billed by segment: (kind, message) -> count.
# Injected (the renderers live in channels/, which bot does not import).
SegmentCounter = Callable[[str, Outgoing], int]


class TemplateLookup(Protocol):
    """The WhatsApp template of a notification kind in a locale, or None: the channels'
    ``TemplateBook``, handed in by ``samvad flows check`` (the bot imports no channel)."""

    def whatsapp(self, kind: str, locale: str | None) -> object | None: ...


@dataclass(frozen=True)
class Problem:
    flow: str
    step: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.flow}.{self.step}" if self.step else self.flow
        return f"{where}: {self.message}"


def _reachable(flow: FlowDef) -> set[str]:
    seen: set[str] = set()
    todo = [flow.start]
    while todo:
        step_id = todo.pop()
        if step_id in seen or step_id not in flow.steps:
            continue
        seen.add(step_id)
        todo.extend(t for t in flow.steps[step_id].targets() if not t.startswith(("@", "^")))
    return seen


PLACEHOLDER = "X" * 12  # a typical filled-in value (a complaint number is 21 characters)
SAMPLE_ROW = "X" * 14  # a typical option label built from data
# Option lists a helper fills from data known before any conversation (``offer_languages``:
# the locale registry) are checked with their real rows rather than typical ones.
KNOWN_ROWS: dict[str, Callable[[], list[dict[str, str]]]] = {"languages": language_menu}


def _filled(locale: str, msgid: str) -> str:
    text = translate(locale, msgid)
    for name in placeholders(text):
        text = text.replace("{" + name + "}", PLACEHOLDER)
    return text


def _sample_prompt(step: StepDef, locale: str, channel: Capabilities) -> Outgoing:
    """A prompt as ``channel`` would carry it: its fixed options, or rows of typical length
    from data, paged as the engine pages them there."""
    options: tuple[Option, ...] = ()
    spec = step.input
    if spec is not None and spec.type == "yes_no":
        options = (Option("yes", translate(locale, "common.yes")),
                   Option("no", translate(locale, "common.no")))
    elif spec is not None and spec.options:
        options = tuple(Option(o.id, translate(locale, o.label)) for o in spec.options
                        if o.channels is None or channel.kind in o.channels)
    if spec is not None and spec.options_from is not None:
        source = spec.options_from
        known = KNOWN_ROWS.get(source.source)
        rows = [Option(str(row[source.id]), str(row[source.label])) for row in known()] \
            if known is not None else [Option(f"row{i}", SAMPLE_ROW) for i in range(source.limit)]
        rows = rows[: source.limit]
        if channel.page_size is not None and len(rows) > channel.list_rows:  # a page and "More"
            options += (*rows[: channel.page_size],
                        Option("more", translate(locale, "common.more")))
        else:
            options += tuple(rows)
    return Outgoing(_filled(locale, step.ask or ""), options=options)


def _budget_problems(flow_id: str, step_id: str, step: StepDef, locales: Sequence[str],
                     segments: SegmentCounter) -> list[Problem]:
    """The prompts and messages of ``step`` over the segment budget of a channel kind."""
    problems: list[Problem] = []
    for kind in channel_kinds():
        budget = capabilities(kind).segment_budget
        if budget is None:
            continue
        for locale in locales:
            samples = [_sample_prompt(step, locale, capabilities(kind))] if step.ask else []
            if step.say:
                samples += [Outgoing(_filled(locale, m)) for m in step.messages()]
            for sample in samples:
                used = segments(kind, sample)
                if used > budget:
                    problems.append(Problem(
                        flow_id, step_id,
                        f"{kind.upper()} message in {locale} takes {used} segments "
                        f"(budget {budget}): {sample.text[:40]!r}"))
    return problems


def check_flows(
    directory: Path = FLOWS_DIR,
    operations: set[str] | None = None,
    helpers: set[str] | None = None,
    segments: SegmentCounter | None = None,
    whatsapp_templates: TemplateLookup | None = None,
) -> tuple[dict[str, FlowDef], list[Problem]]:
    """Load and check every flow; return the flows that loaded and all problems found."""
    problems: list[Problem] = []
    flows: dict[str, FlowDef] = {}
    for path in flow_files(directory):
        try:
            flows[path.parent.name] = load_flow(path)
        except (ValidationError, ValueError) as exc:
            problems.append(Problem(path.parent.name, None, f"does not load: {exc}"))
    try:
        intent_flows(flows)
    except ValueError as exc:  # one NLU intent declared by two flows
        problems.append(Problem("intents", None, str(exc)))
    locales = available_locales()
    if not locales:
        problems.append(Problem("locales", None, "no message catalog found"))
    for msgid in ENGINE_MESSAGES:
        for locale in locales:
            if not has_message(msgid, locale):
                problems.append(Problem("engine", None, f"message {msgid} missing in {locale}"))
    for flow in flows.values():
        reachable = _reachable(flow)
        for step_id in flow.steps:
            if step_id not in reachable:
                problems.append(Problem(flow.id, step_id, "unreachable"))
        for step_id, step in flow.steps.items():
            for target in step.targets():
                if target == "^":
                    continue
                if target.startswith("@"):
                    if target[1:] not in flows:
                        problems.append(Problem(flow.id, step_id, f"unknown flow {target}"))
                elif target not in flow.steps:
                    problems.append(Problem(flow.id, step_id, f"unknown step {target}"))
            if step.call and operations is not None and step.call not in operations:
                problems.append(Problem(flow.id, step_id, f"unknown operation {step.call}"))
            if step.do and helpers is not None and step.do not in helpers:
                problems.append(Problem(flow.id, step_id, f"unknown helper {step.do}"))
            for msgid in step.messages():
                for locale in locales:
                    if not has_message(msgid, locale):
                        problems.append(
                            Problem(flow.id, step_id, f"message {msgid} missing in {locale}"))
            for name, expr in step.params.items():
                if not expressions(expr):
                    problems.append(Problem(flow.id, step_id,
                                            f"param {name} has no {{slot}} expression"))
            if segments is not None:
                problems += _budget_problems(flow.id, step_id, step, locales, segments)
    if whatsapp_templates is not None:
        problems += check_notifications(whatsapp_templates, locales)
    return flows, problems


def check_notifications(whatsapp_templates: TemplateLookup,
                        locales: Sequence[str]) -> list[Problem]:
    """Every notification kind has a WhatsApp template in every locale (or outside the
    24-hour window it could only go by SMS) and each of its messages in every catalog."""
    problems: list[Problem] = []
    for kind, msgids in NOTIFICATION_KINDS.items():
        for locale in locales:
            if whatsapp_templates.whatsapp(kind, locale) is None:
                problems.append(Problem("notifications", kind,
                                        f"no WhatsApp template for {locale}"))
            problems += [Problem("notifications", kind, f"message {msgid} missing in {locale}")
                         for msgid in msgids if not has_message(msgid, locale)]
    return problems

"""``samvad flows check``: every flow loads, every reference resolves, every prompt fits.

Checks: the schema (at load), unknown steps and flows, unreachable steps, message ids
missing in any locale that has a catalog, unknown core-API operations and helpers,
(when a measure is given) the SMS budget of every prompt in every locale, and (when the
WhatsApp template mapping is given) every notification kind of
``bot.notifier.NOTIFICATION_KINDS``: a template in every locale and its messages in every
catalog.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bot.engine import SMS_PAGE_SIZE
from bot.flowspec import FLOWS_DIR, FlowDef, StepDef, expressions, flow_files, load_flow
from bot.i18n import available_locales, has_message, placeholders, translate
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

SegmentCounter = Callable[[Outgoing], int]


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


def _filled(locale: str, msgid: str) -> str:
    text = translate(locale, msgid)
    for name in placeholders(text):
        text = text.replace("{" + name + "}", PLACEHOLDER)
    return text


def _sample_prompt(step: StepDef, locale: str) -> Outgoing:
    """A prompt as SMS would carry it: fixed options, or rows of typical length from data."""
    options: tuple[Option, ...] = ()
    spec = step.input
    if spec is not None and spec.type == "yes_no":
        options = (Option("yes", translate(locale, "common.yes")),
                   Option("no", translate(locale, "common.no")))
    elif spec is not None and spec.options:
        options = tuple(Option(o.id, translate(locale, o.label)) for o in spec.options
                        if o.channels is None or "sms" in o.channels)
    if spec is not None and spec.options_from is not None:
        rows = spec.options_from.limit
        if rows > SMS_PAGE_SIZE + 1:  # SMS shows a page and "More"
            options += tuple(Option(f"row{i}", SAMPLE_ROW) for i in range(SMS_PAGE_SIZE))
            options += (Option("more", translate(locale, "common.more")),)
        else:
            options += tuple(Option(f"row{i}", SAMPLE_ROW) for i in range(rows))
    return Outgoing(_filled(locale, step.ask or ""), options=options)


def check_flows(
    directory: Path = FLOWS_DIR,
    operations: set[str] | None = None,
    helpers: set[str] | None = None,
    sms_segments: SegmentCounter | None = None,
    sms_budget: int = 3,
    whatsapp_templates: Mapping[str, Any] | None = None,
) -> tuple[dict[str, FlowDef], list[Problem]]:
    """Load and check every flow; return the flows that loaded and all problems found."""
    problems: list[Problem] = []
    flows: dict[str, FlowDef] = {}
    for path in flow_files(directory):
        try:
            flows[path.parent.name] = load_flow(path)
        except (ValidationError, ValueError) as exc:
            problems.append(Problem(path.parent.name, None, f"does not load: {exc}"))
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
            if sms_segments is not None:
                for locale in locales:
                    samples = [_sample_prompt(step, locale)] if step.ask else []
                    if step.say:
                        samples += [Outgoing(_filled(locale, m)) for m in step.messages()]
                    for sample in samples:
                        segments = sms_segments(sample)
                        if segments > sms_budget:
                            problems.append(Problem(
                                flow.id, step_id,
                                f"SMS message in {locale} takes {segments} segments "
                                f"(budget {sms_budget}): {sample.text[:40]!r}"))
    if whatsapp_templates is not None:
        problems += check_notifications(whatsapp_templates, locales)
    return flows, problems


def check_notifications(whatsapp_templates: Mapping[str, Any],
                        locales: Sequence[str]) -> list[Problem]:
    """Every notification kind has a WhatsApp template in every locale (or outside the
    24-hour window it could only go by SMS) and each of its messages in every catalog."""
    from channels.queues import TemplateBook  # channels builds on bot: imported when used

    book = TemplateBook(dict(whatsapp_templates))
    problems: list[Problem] = []
    for kind, msgids in NOTIFICATION_KINDS.items():
        for locale in locales:
            if book.whatsapp(kind, locale) is None:
                problems.append(Problem("notifications", kind,
                                        f"no WhatsApp template for {locale}"))
            problems += [Problem("notifications", kind, f"message {msgid} missing in {locale}")
                         for msgid in msgids if not has_message(msgid, locale)]
    return problems

"""``samvad flows check``: every flow loads, every reference resolves, every prompt fits.

Checks: the schema (at load), unknown steps and flows, unreachable steps, message ids
missing in any locale that has a catalog, unknown core-API operations and helpers, an NLU
intent two flows declare,
(when a measure is given) the segment budget of every prompt in every locale on each
channel kind that has one (SMS), with its placeholders at their realistic longest (links
with the public address as deployed, names at their limit, the longest date), and (when the
WhatsApp template mapping is given) every notification kind of
``bot.notifier.NOTIFICATION_KINDS``: a template in every locale and its messages in every
catalog.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from pydantic import ValidationError

from bot.channel_kinds import Capabilities, capabilities, channel_kinds
from bot.flowspec import (
    EXPRESSION,
    FLOWS_DIR,
    FlowDef,
    StepDef,
    expressions,
    flow_files,
    intent_flows,
    load_flow,
)
from bot.i18n import (
    TIMEZONE,
    available_locales,
    format_amount,
    format_day,
    format_moment,
    has_message,
    language_menu,
    placeholders,
    translate,
)
from bot.labels import ROW_TITLE_MAX
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

CHANNEL_BRANCH = "{channel}"  # a branch by channel kind: each kind follows its own case

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


def _reachable(flow: FlowDef, kind: str | None = None) -> set[str]:
    """The steps a conversation can reach; on channel ``kind``, only through its case of a
    ``branch: "{channel}"`` and the options offered there."""
    seen: set[str] = set()
    todo = [flow.start]
    while todo:
        step_id = todo.pop()
        if step_id in seen or step_id not in flow.steps:
            continue
        seen.add(step_id)
        step = flow.steps[step_id]
        targets = step.targets() if kind is None else _targets_on(step, kind)
        todo.extend(t for t in targets if not t.startswith(("@", "^")))
    return seen


def _targets_on(step: StepDef, kind: str) -> list[str]:
    """The steps ``step`` leads to on channel ``kind``."""
    if step.branch == CHANNEL_BRANCH:
        return [t for t in (step.cases.get(kind, step.default),) if t]
    if step.input is not None and isinstance(step.next, dict):
        hidden = {o.id for o in step.input.options
                  if o.channels is not None and kind not in o.channels}
        return [t for answer, t in step.next.items() if answer not in hidden]
    return step.targets()


# Placeholders are measured at their realistic maximum, as deployed: a message that fits
# with typical values may still take a fourth segment with a real link, date or name.
# A city's public address (``SAMVAD_PUBLIC_URL``) as long as the long real ones: the
# service's name before a municipal domain. A longer configured address is used instead.
DEPLOYED_PUBLIC_URL = "https://samvad.nagarnigamdehradun.gov.in"
SHORT_CODE = "X" * 6  # core_api.links: an SMS carries a payment link as <public>/r/<code>
VERIFY_CODE = "X" * 24  # core_api.certificates.verification: <public>/verify/<code>
# NPCI's upi://pay link with a VPA, the city's name, the amount, a note and a reference.
UPI_LINK = ("upi://pay?pa=nagarnigam.dehradun@sbi&pn=Dehradun%20Municipal%20Corporation"
            "&am=999999.99&cu=INR&tn=" + "X" * 50 + "&tr=" + "X" * 20)
NAME_MAX = ROW_TITLE_MAX  # names from data (types, places, people) fit a list row title
# Placeholders that hold such a name.
NAMES = ("type", "place", "owner", "person", "name", "service")
# Placeholders that hold a case number (a complaint, a request, a certificate, a record).
NUMBERS = ("id", "number", "certificate", "reg")
TYPICAL = "X" * 12  # other values (a status, a phone, a staff note), at a typical length
CITY_MAX = 16  # a city's short name (Dehradun, Rishikesh, Haridwar: 8 to 9 characters)
NUMBER_MAX = 21  # a complaint number (PG-UK-DDN-2026-000123); other numbers are shorter
BRIEF_MAX = 51  # file_complaint's summary: the description's first 50 characters and "…"
# Placeholders that hold a count or a small number (tasks, pages, copies, a rating).
COUNTS = ("n", "from", "to", "count", "copies", "rating", "level", "repeat", "photos")
LARGEST_AMOUNT = Decimal("999999.99")  # a bill or fee: ₹9,99,999.99
# An option label built from data, at a typical length: one name in a message may be at
# the limit, a whole page of rows at the limit is not what anyone is shown.
SAMPLE_ROW = "X" * 14
# Option lists a helper fills from data known before any conversation (``offer_languages``:
# the locale registry) are checked with their real rows rather than typical ones.
KNOWN_ROWS: dict[str, Callable[[], list[dict[str, str]]]] = {"languages": language_menu}


def _longest(texts: Iterable[str]) -> str:
    return max(texts, key=len)


def _by_filter(locale: str) -> dict[str, str]:
    """The longest text each display filter writes in ``locale``."""
    days = [date(2026, month, 28) for month in range(1, 13)]
    return {
        "day": _longest(format_day(day, locale) for day in days),
        "moment": _longest(format_moment(datetime.combine(day, time(23, 59), TIMEZONE), locale)
                           for day in days),
        "amount": format_amount(LARGEST_AMOUNT, locale),
        "mask": "+91******0077",
        "count": "10",
    }


def _by_name(public_url: str, channel: Capabilities) -> dict[str, str]:
    """Placeholders whose longest value their name tells (links, numbers, descriptions).
    The UPI link goes with its QR picture, so only where the channel carries pictures
    (``bot.shared_actions.start_payment``: elsewhere the payment page offers the UPI app)."""
    site = _longest((public_url.rstrip("/"), DEPLOYED_PUBLIC_URL))
    return {"url": f"{site}/r/{SHORT_CODE}", "verify": f"{site}/verify/{VERIFY_CODE}",
            "upi": UPI_LINK if channel.media else "", "description": "X" * BRIEF_MAX,
            **dict.fromkeys(NUMBERS, "X" * NUMBER_MAX),
            "city": "X" * CITY_MAX, **dict.fromkeys(NAMES, "X" * NAME_MAX),
            **dict.fromkeys(COUNTS, "99")}


def _filled(locale: str, msgid: str, step: StepDef, channel: Capabilities,
            public_url: str) -> str:
    """Message ``msgid`` with each placeholder at its longest: by its name (a link, a
    number, a name, a count), else the step's param with each expression at the longest
    its filter writes (a date, an amount) or, without one, at a typical length."""
    text = translate(locale, msgid)
    by_name, by_filter = _by_name(public_url, channel), _by_filter(locale)

    def longest(match: re.Match[str]) -> str:
        return by_filter.get(match.group(2) or "", TYPICAL)

    for name in placeholders(text):
        param = step.params.get(name, "")
        sample = by_name[name] if name in by_name else (
            EXPRESSION.sub(longest, param) if expressions(param) else TYPICAL)
        text = text.replace("{" + name + "}", sample)
    return text


def _sample_prompt(step: StepDef, locale: str, channel: Capabilities,
                   public_url: str) -> Outgoing:
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
    return Outgoing(_filled(locale, step.ask or "", step, channel, public_url),
                    options=options)


def _budget_problems(flow: FlowDef, locales: Sequence[str], segments: SegmentCounter,
                     public_url: str) -> list[Problem]:
    """The prompts and messages over the segment budget of a channel kind that has one,
    among the steps a conversation on that kind can reach."""
    problems: list[Problem] = []
    for kind in channel_kinds():
        channel = capabilities(kind)
        budget = channel.segment_budget
        if budget is None:
            continue
        reachable = _reachable(flow, kind)
        for step_id, step in flow.steps.items():
            if step_id not in reachable:
                continue
            for locale in locales:
                samples = [_sample_prompt(step, locale, channel, public_url)] if step.ask else []
                samples += [Outgoing(_filled(locale, m, step, channel, public_url))
                            for m in (step.messages() if step.say else [])]
                problems += [Problem(flow.id, step_id,
                                     f"{kind.upper()} message in {locale} takes {used} "
                                     f"segments (budget {budget}): {sample.text[:40]!r}")
                             for sample in samples
                             if (used := segments(kind, sample)) > budget]
    return problems


def check_flows(
    directory: Path = FLOWS_DIR,
    operations: set[str] | None = None,
    helpers: set[str] | None = None,
    segments: SegmentCounter | None = None,
    whatsapp_templates: TemplateLookup | None = None,
    public_url: str = "",
) -> tuple[dict[str, FlowDef], list[Problem]]:
    """Load and check every flow; return the flows that loaded and all problems found.
    ``public_url`` is the configured public address (links are measured with it, or with a
    realistic deployed one when that is longer)."""
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
        if flow.relabel and operations is not None and flow.relabel not in operations:
            problems.append(Problem(flow.id, None, f"unknown relabel operation {flow.relabel}"))
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
            source = step.input.options_from if step.input else None
            if source and source.names and operations is not None and (
                    source.names not in operations):
                problems.append(Problem(flow.id, step_id,
                                        f"unknown names operation {source.names}"))
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
            problems += _budget_problems(flow, locales, segments, public_url)
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

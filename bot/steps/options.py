"""The options of a choice (or yes/no) question, and their pages on small channels.

Options built from data (``options_from``: a list in a slot, e.g. the person's bills)
come first, then the fixed ones (``Search by number``, ``Menu``); a fixed option may be
offered on some channel kinds only. A channel whose capabilities have a ``page_size``
(SMS) shows a long list one page at a time with a "More" option that turns the page.
"""

from __future__ import annotations

from bot.flowspec import InputDef
from bot.i18n import lang, translate
from bot.messages import Option
from bot.steps.context import StepContext
from bot.steps.expressions import value

MORE = "_more"


def options(ctx: StepContext, spec: InputDef) -> list[Option]:
    """Every option of the question, in order."""
    s = ctx.session
    if spec.type == "yes_no":
        return [Option("yes", translate(s.locale, "common.yes")),
                Option("no", translate(s.locale, "common.no"))]
    found: list[Option] = []
    if spec.options_from is not None:
        source = value(s, "{" + spec.options_from.source + "}") or []
        for item in list(source)[: spec.options_from.limit]:
            label = item.get(spec.options_from.label, "")
            if isinstance(label, dict):
                label = label.get(lang(s.locale)) or label.get("en") or ""
            description = None
            if spec.options_from.description:
                description = value(s, spec.options_from.description, item) or None
            found.append(Option(str(item[spec.options_from.id]), str(label),
                                str(description) if description else None))
    return found + [Option(o.id, translate(s.locale, o.label)) for o in spec.options
                    if o.channels is None or s.channel in o.channels]


def page(ctx: StepContext, offered: list[Option]) -> list[Option]:
    """The options shown now: all of them, or one page plus "More"."""
    size = ctx.channel.page_size
    if size is None or len(offered) <= ctx.channel.list_rows:
        return offered
    start = int(ctx.session.slots.get("_page", 0)) * size
    more = Option(MORE, translate(ctx.session.locale, "common.more"))
    return [*offered[start:start + size], more]


def turn_page(ctx: StepContext, offered: list[Option]) -> None:
    """"More" was chosen: the next page is shown, after the last one the first again."""
    size = ctx.channel.page_size
    if size is None:
        return  # nothing is paged on this channel: the same list is shown again
    page_number = int(ctx.session.slots.get("_page", 0)) + 1
    ctx.session.slots["_page"] = page_number if page_number * size < len(offered) else 0

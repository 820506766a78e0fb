"""The options of a choice (or yes/no) question, their pages on small channels, and the
option a typed name means.

Options built from data (``options_from``: a list in a slot, e.g. the person's bills)
come first, then the fixed ones (``Search by number``, ``Menu``); a fixed option may be
offered on some channel kinds only. A channel whose capabilities have a ``page_size``
(SMS) shows a long list one page at a time with a "More" option that turns the page.

A typed answer may name an option in any language, not only the one the question is in:
a fixed option by its label in every catalog, an option from data by the names the flow's
``options_from: {names: operation}`` gives for it ("dehradun" picks देहरादून; asked only
when the labels do not match, so that the session keeps no names). ``named`` finds an
exact name; ``closest`` forgives typos, and guesses only when one option is clearly closer
than every other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rapidfuzz import fuzz

from bot.flowspec import InputDef
from bot.i18n import available_locales, lang, translate, words
from bot.inputs import fold
from bot.labels import every_name
from bot.messages import Option
from bot.steps.context import StepContext
from bot.steps.expressions import value

MORE = "_more"
FUZZY_OPTION_SCORE = 82.0  # rapidfuzz WRatio: "dehradoon" for Dehradun, "nehru colny"
CLEAR_LEAD = 5.0  # a fuzzy guess must beat the next option's score by this much
MIN_FUZZY_CHARS = 3  # shorter text and names ("no", "y") are matched exactly, never guessed

# Names and their options: what a typed answer is compared with.
Names = Mapping[str, Sequence[str]]


def options(ctx: StepContext, spec: InputDef) -> list[Option]:
    """Every option of the question, in order."""
    return [option for option, _names in _choices(ctx, spec)]


def option_names(ctx: StepContext, spec: InputDef, shown: Sequence[Option]) -> dict[str, list[str]]:
    """Every name a typed answer may give each option (``shown``: the options on the page
    now, for "More"), its id included."""
    names = {option.id: [option.id, *found] for option, found in _choices(ctx, spec)}
    if any(option.id == MORE for option in shown):
        names[MORE] = in_every_locale("common.more")
    return names


def _choices(ctx: StepContext, spec: InputDef) -> list[tuple[Option, list[str]]]:
    """The options with the names each may be typed by."""
    s = ctx.session
    if spec.type == "yes_no":
        return [(Option(answer, translate(s.locale, f"common.{answer}")),
                 in_every_locale(f"common.{answer}")) for answer in ("yes", "no")]
    found: list[tuple[Option, list[str]]] = []
    source_def = spec.options_from
    if source_def is not None:
        source = value(s, "{" + source_def.source + "}") or []
        for item in list(source)[: source_def.limit]:
            label = item.get(source_def.label, "")
            names = every_name(label)
            if isinstance(label, dict):
                label = label.get(lang(s.locale)) or label.get("en") or ""
            description = None
            if source_def.description:
                description = value(s, source_def.description, item) or None
            found.append((Option(str(item[source_def.id]), str(label),
                                 str(description) if description else None), names))
    return found + [(Option(o.id, translate(s.locale, o.label)),
                     [*in_every_locale(o.label), *_yes_no_words(s.locale, o.id)])
                    for o in spec.options if o.channels is None or s.channel in o.channels]


def _yes_no_words(locale: str | None, option_id: str) -> list[str]:
    """An option with the id ``yes`` or ``no`` (a summary's "Yes" / "No" beside "Change")
    is also given by the yes and no words ("haan", "ok", "nahi")."""
    return words(locale, f"words.{option_id}") if option_id in ("yes", "no") else []


def in_every_locale(msgid: str) -> list[str]:
    """A message in every language (a fixed option's label as any citizen may type it)."""
    return every_name([translate(locale, msgid) for locale in available_locales()])


def named(text: str, names: Names) -> str | None:
    """The option one of whose names is ``text`` (folded alike), if any."""
    typed = fold(text)
    if not typed:
        return None
    return next((option for option, found in names.items()
                 if any(fold(name) == typed for name in found)), None)


def closest(text: str, names: Names) -> str | None:
    """The option whose name ``text`` comes clearly closest to, allowing typos and part of
    a name ("nehru" for Nehru Colony); None when nothing is close, or two options are
    about as close (better ask again than pick the wrong place)."""
    typed = fold(text)
    if _letters(typed) < MIN_FUZZY_CHARS:
        return None
    scores = sorted(((max((fuzz.WRatio(typed, folded) for folded in map(fold, found)
                           if _letters(folded) >= MIN_FUZZY_CHARS), default=0.0),
                      option) for option, found in names.items()), reverse=True)
    if not scores or scores[0][0] < FUZZY_OPTION_SCORE:
        return None
    if len(scores) > 1 and scores[0][0] - scores[1][0] < CLEAR_LEAD:
        return None
    return scores[0][1]


def _letters(folded: str) -> int:
    return len(folded.replace(" ", ""))


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

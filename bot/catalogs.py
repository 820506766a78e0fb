"""The message catalogs as a build artefact: ``samvad locales extract|compile|check``.

``extract`` collects every message id the product uses into ``locales/samvad.pot`` with
babel's extraction machinery and two extraction methods of ours:

- ``extract_flows`` (flows/<id>/flow.yaml): what each step shows (ask, say, option labels, input
  hints), per ``StepDef.messages()``;
- ``extract_python`` (bot/**.py): literal ids passed to ``translate``, ``words`` and
  ``has_message``, and id-like string constants (``"notify.complaint.resolved"`` in a
  mapping) that name a catalog message.

The engine's own ids (``bot.flowcheck.ENGINE_MESSAGES``) are always in the template, and
ids the code builds at run time (``f"pay_bill.type.{service}"``) are represented by the
source catalog's messages under that prefix. ``en_IN`` is the source catalog.

``compile`` writes ``samvad.mo`` next to each ``samvad.po`` (not committed).

``check`` fails on: a template id missing from the source catalog; an id of the source
catalog missing or empty in any locale; placeholders that differ from the source; an
empty or clashing word list (``words.*``); a locale folder without its ``locale.yaml``
or a registered locale without NLU keywords for every intent (``locales/<code>/nlu.yaml``);
an SMS prompt of any flow over its budget in
any locale (via ``bot.flowcheck``).
"""

from __future__ import annotations

import ast
import io
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import yaml
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from bot.flowspec import FLOWS_DIR, FlowDef
from bot.i18n import (
    DOMAIN,
    LOCALES_DIR,
    REGISTRY_FILE,
    SOURCE_LOCALE,
    LocaleError,
    locale_codes,
    locales_dir,
)
from bot.nlu import KEYWORDS_FILE, locale_keywords

if TYPE_CHECKING:
    from bot.flowcheck import SegmentCounter

ROOT = LOCALES_DIR.parent
TEMPLATE = LOCALES_DIR / f"{DOMAIN}.pot"
PYTHON_DIRS = ("bot", "channels", "flows")  # Python that names message ids (flows: actions.py)
# Function name -> index (0-based) of the argument that is a message id.
ID_ARGUMENTS = {"translate": 1, "words": 1, "has_message": 0}
# Global words: a word may mean one of these only (in a locale and English together).
GLOBAL_WORDS = ("words.menu", "words.back", "words.help", "words.language", "words.stop",
                "words.start")
_ID = re.compile(r"[a-z][a-z0-9_]*(?:\.[A-Za-z0-9_]+)+")
_PREFIX = re.compile(r"[a-z][a-z0-9_]*\.(?:[A-Za-z0-9_]+\.)*")

Extracted = Iterator[tuple[int, str | None, str, list[str]]]


# ------------------------------------------------------------------ extraction methods


def extract_flows(fileobj: IO[bytes], keywords: Collection[str], comment_tags: Collection[str],
                  options: Mapping[str, Any]) -> Extracted:
    """Babel extraction method for a flow file: the message ids its steps show."""
    text = fileobj.read().decode("utf-8")
    flow = FlowDef.model_validate(yaml.safe_load(text))
    lines = text.splitlines()
    for step_id, step in flow.steps.items():
        for msgid in step.messages():
            lineno = next((n for n, line in enumerate(lines, start=1)
                           if re.search(rf"(?<![\w.]){re.escape(msgid)}(?![\w.])", line)), 0)
            yield lineno, None, msgid, [f"flow {flow.id}, step {step_id}"]


def extract_python(fileobj: IO[bytes], keywords: Collection[str], comment_tags: Collection[str],
                   options: Mapping[str, Any]) -> Extracted:
    """Babel extraction method for Python: ids passed to ``translate``/``words``/
    ``has_message`` as literals (comment ``code``), other id-like constants (``constant``)
    and the constant prefixes of ids built by f-strings (``prefix``, ending in a dot)."""
    tree = ast.parse(fileobj.read())
    literal: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else (
                node.func.attr if isinstance(node.func, ast.Attribute) else None)
            index = ID_ARGUMENTS.get(name or "")
            if index is None or index >= len(node.args):
                continue
            arg = node.args[index]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                literal.add(id(arg))
                yield arg.lineno, None, arg.value, ["code"]
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in (
            literal
        ) and _ID.fullmatch(node.value):
            yield node.lineno, None, node.value, ["constant"]
        elif isinstance(node, ast.JoinedStr) and node.values:
            head = node.values[0]
            if isinstance(head, ast.Constant) and isinstance(head.value, str):
                match = _PREFIX.fullmatch(head.value)
                if match:
                    yield node.lineno, None, head.value, ["prefix"]


# ------------------------------------------------------------------ catalogs on disk


def po_path(locale: str, directory: Path | None = None) -> Path:
    return (directory or locales_dir()) / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalog(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def messages_of(catalog: Catalog) -> dict[str, str]:
    """Singular messages ``{id: text}`` (the header left out)."""
    return {m.id: m.string if isinstance(m.string, str) else ""
            for m in catalog if m.id and isinstance(m.id, str)}


def catalogs(directory: Path | None = None) -> dict[str, dict[str, str]]:
    """Every registered locale that has a catalog, as ``{locale: {id: text}}``."""
    return {locale: messages_of(read_catalog(po_path(locale, directory), locale))
            for locale in locale_codes(directory) if po_path(locale, directory).exists()}


# ------------------------------------------------------------------ extract


@dataclass
class Template:
    """The message ids in use: id -> where (files) and how found (comments)."""

    ids: dict[str, tuple[set[str], set[str]]] = field(default_factory=dict)

    def add(self, msgid: str, where: str, how: str) -> None:
        places, notes = self.ids.setdefault(msgid, (set(), set()))
        places.add(where)
        notes.add(how)


def extract_template(root: Path = ROOT, source: Mapping[str, str] | None = None) -> Template:
    """Every message id used by the flows, the engine and the Python sources.

    ``source`` (the source catalog, default ``en_IN``) confirms id-like constants and
    supplies the ids under f-string prefixes.
    """
    from bot.flowcheck import ENGINE_MESSAGES

    if source is None:
        path = po_path(SOURCE_LOCALE, root / "locales")
        source = messages_of(read_catalog(path, SOURCE_LOCALE)) if path.exists() else {}
    template = Template()
    for msgid in ENGINE_MESSAGES:
        template.add(msgid, "bot/engine.py", "engine")
    flows_dir = root / FLOWS_DIR.name
    for filename, msgid, comments in _extracted(
        flows_dir, ("*/flow.yaml", "bot.catalogs:extract_flows"),
        directory_filter=lambda path: "transcripts" not in Path(path).parts,
    ):
        template.add(msgid, f"flows/{filename}", "; ".join(comments))
    prefixes: dict[str, str] = {}
    for directory in PYTHON_DIRS:
        for filename, msgid, comments in _extracted(
            root / directory, ("**.py", "bot.catalogs:extract_python"),
        ):
            where = f"{directory}/{filename}"
            how = comments[0] if comments else "code"
            if how == "prefix":
                prefixes.setdefault(msgid, where)
            elif how == "code" or msgid in source:
                template.add(msgid, where, "code")
    for prefix, where in prefixes.items():
        for msgid in source:
            if msgid.startswith(prefix) and msgid not in template.ids:
                template.add(msgid, where, f"built in code: {prefix}…")
    return template


def _extracted(directory: Path, method: tuple[str, str],
               **options: Any) -> Iterator[tuple[str, str, list[str]]]:
    """(filename, msgid, comments) from one of this module's extractors; they yield
    singular ids only, where babel's types also allow a plural tuple."""
    for filename, _lineno, msgid, comments, _context in extract_from_dir(
            directory, method_map=[method], **options):
        if isinstance(msgid, str):
            yield filename, msgid, comments


def template_catalog(template: Template, source: Mapping[str, str]) -> Catalog:
    catalog = Catalog(domain=DOMAIN, project="Samvad", version="1",
                      copyright_holder="Samvad contributors", msgid_bugs_address="",
                      fuzzy=False)
    for msgid in sorted(template.ids):
        places, notes = template.ids[msgid]
        comments = sorted(notes)
        if source.get(msgid):
            comments.append(f"en_IN: {source[msgid]}")
        # Line 0: none; the template is written without line numbers (_po_bytes).
        catalog.add(msgid, "", locations=[(place, 0) for place in sorted(places)],
                    auto_comments=comments)
    return catalog


def _po_bytes(catalog: Catalog, **options: Any) -> bytes:
    out = io.BytesIO()
    write_po(out, catalog, width=100, sort_output=True, include_lineno=False, **options)
    return out.getvalue()


def _body(data: bytes) -> bytes:
    """A .po/.pot without its header (which carries the creation date)."""
    return data.split(b"\n\n", 1)[1] if b"\n\n" in data else data


def write_template(template: Template, source: Mapping[str, str],
                   path: Path = TEMPLATE) -> bool:
    """Write the template; False when it is unchanged (the file is left alone)."""
    data = _po_bytes(template_catalog(template, source))
    if path.exists() and _body(path.read_bytes()) == _body(data):
        return False
    path.write_bytes(data)
    return True


# ------------------------------------------------------------------ compile


def compile_catalogs(directory: Path | None = None) -> dict[str, int]:
    """Write ``samvad.mo`` next to every registered locale's ``samvad.po``; id counts."""
    counts: dict[str, int] = {}
    for locale in locale_codes(directory):
        po = po_path(locale, directory)
        if not po.exists():
            continue
        catalog = read_catalog(po, locale)
        with po.with_suffix(".mo").open("wb") as handle:
            write_mo(handle, catalog, use_fuzzy=False)
        counts[locale] = sum(1 for m in catalog if m.id and m.string)
    return counts


# ------------------------------------------------------------------ check


def _placeholders(text: str) -> set[str] | None:
    """The ``{name}`` fields of a message; None when its braces do not parse."""
    from string import Formatter

    try:
        return {name for _, name, _, _ in Formatter().parse(text) if name is not None}
    except ValueError:
        return None


def _word_list(text: str) -> list[str]:
    return [w.strip().casefold() for w in text.split(",")]


@dataclass
class CheckResult:
    counts: dict[str, int]
    problems: list[str]
    warnings: list[str]


def check_catalogs(
    directory: Path | None = None,
    template: Collection[str] | None = None,
    sms_check: Callable[[], list[str]] | None = None,
) -> CheckResult:
    """Check every registered locale against the source catalog and the template ids."""
    try:
        found = catalogs(directory)
    except LocaleError as exc:
        return CheckResult({}, [str(exc)], [])
    problems = _registry_problems(directory)
    warnings: list[str] = []
    source = found.get(SOURCE_LOCALE)
    if source is None:
        return CheckResult({}, [f"{SOURCE_LOCALE}: no catalog at {po_path(SOURCE_LOCALE)}"], [])
    if template is None:
        template = extract_template(source=source).ids
    for msgid in sorted(set(template) - set(source)):
        problems.append(f"{SOURCE_LOCALE}: {msgid} is used but has no message")
    for msgid in sorted(set(source) - set(template)):
        warnings.append(f"{SOURCE_LOCALE}: {msgid} is not used anywhere (remove it?)")
    for locale in locale_codes(directory):
        messages = found.get(locale)
        if messages is None:
            problems.append(f"{locale}: no catalog at {po_path(locale, directory)}")
            continue
        for msgid in sorted(set(messages) - set(source)):
            warnings.append(f"{locale}: {msgid} is not in {SOURCE_LOCALE} (stale?)")
        for msgid, english in sorted(source.items()):
            text = messages.get(msgid, "")
            if not text.strip():
                state = "empty" if msgid in messages else "missing"
                problems.append(f"{locale}: {msgid} is {state}")
                continue
            wanted, got = _placeholders(english), _placeholders(text)
            if got is None:
                problems.append(f"{locale}: {msgid} has unbalanced braces: {text!r}")
            elif wanted is not None and got != wanted:
                problems.append(f"{locale}: {msgid} has placeholders {sorted(got)}, "
                                f"{SOURCE_LOCALE} has {sorted(wanted)}")
            if msgid.startswith("words.") and not all(_word_list(text)):
                problems.append(f"{locale}: {msgid} has an empty word: {text!r}")
        problems.extend(_clashes(locale, messages, source))
    problems.extend(_global_clashes(found))
    if sms_check is not None:
        problems.extend(sms_check())
    counts = {locale: sum(1 for text in messages.values() if text.strip())
              for locale, messages in found.items()}
    return CheckResult(counts, problems, warnings)


def _registry_problems(directory: Path | None) -> list[str]:
    """A catalog whose folder has no ``locale.yaml`` (so no menu offers it) and intents a
    registered locale has no keywords for (free text in it would not be understood)."""
    root = directory or locales_dir()
    registered = set(locale_codes(directory))
    problems = [f"{path.parent.parent.name}: has a catalog but no {REGISTRY_FILE}"
                for path in sorted(root.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
                if path.parent.parent.name not in registered]
    intents = locale_keywords(SOURCE_LOCALE, directory)
    for locale in registered:
        keywords = locale_keywords(locale, directory)
        problems += [f"{locale}: intent {intent} has no keywords in {locale}/{KEYWORDS_FILE}"
                     for intent in intents if not keywords.get(intent)]
    return problems


def _clashes(locale: str, messages: Mapping[str, str], source: Mapping[str, str]) -> list[str]:
    """A word that means two global words, or both yes and no (with English, as the
    engine reads them)."""
    problems = []
    groups = [GLOBAL_WORDS, ("words.yes", "words.no")]
    for group in groups:
        meaning: dict[str, str] = {}
        for msgid in group:
            for word in _word_list(messages.get(msgid, "")) + _word_list(source.get(msgid, "")):
                if word and meaning.setdefault(word, msgid) != msgid:
                    problems.append(f"{locale}: {word!r} is in both {meaning[word]} and {msgid}")
    return sorted(set(problems))


def _global_clashes(found: Mapping[str, Mapping[str, str]]) -> list[str]:
    """A word that means two global words in two locales: the engine reads the global
    words of every locale in every conversation (``bot.i18n.global_word``)."""
    meaning: dict[str, tuple[str, str]] = {}
    problems = []
    for locale, messages in found.items():
        for msgid in GLOBAL_WORDS:
            for word in _word_list(messages.get(msgid, "")):
                first_locale, first_msgid = meaning.setdefault(word, (locale, msgid))
                if word and first_msgid != msgid:
                    problems.append(f"{locale}: {word!r} is in {msgid}, and in {first_msgid} "
                                    f"of {first_locale}")
    return sorted(set(problems))


def sms_budget_problems(segments: SegmentCounter) -> list[str]:
    """Message problems of ``samvad flows check``: ids missing in a locale, SMS prompts
    over their budget (every locale that has a catalog), counted by the channels'
    ``segments`` (``channels.render.message_segments``, handed in by the CLI)."""
    from bot.flowcheck import check_flows

    _flows, problems = check_flows(segments=segments)
    return [str(p) for p in problems
            if "segments (budget" in p.message or "missing in" in p.message]

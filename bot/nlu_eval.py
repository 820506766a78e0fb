"""The NLU evaluation set and its figures (``samvad nlu eval``, the floor test, the Rasa tests).

The set is in ``tests/bot/nlu_eval/``: ``dev.yml`` is what keywords, complaint vocabulary,
Rasa training data and Rasa's thresholds are tuned on; ``heldout.yml`` only measures. Both
are Rasa NLU files (so ``rasa test nlu`` reads them as they are) whose blocks carry
``metadata.style``: the writing style, ``en``, ``hi`` (Devanagari), ``hinglish`` (romanised
Hindi), ``pa`` (Gurmukhi and romanised Punjabi) or ``or`` (Odia). A complaint's gold type is
its annotated ``complaint_type`` value, or the ``file_complaint/<code>`` of its block.

A reading is scored as the main menu would act on it: the intent (each intent starts one
flow), and for a complaint the type it names (none when the text names none).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from bot.nlu import LATIN, NLU, SCRIPT_BLOCKS, Understanding, script_of
from bot.rasa_nlu import RasaNLU
from bot.rasa_project import REPO_DIR

EVAL_DIR = REPO_DIR / "tests" / "bot" / "nlu_eval"
SPLITS = ("heldout", "dev")
STYLES = ("en", "hi", "hinglish", "pa", "or")
STYLE_NAMES = {"en": "English", "hi": "Hindi", "hinglish": "Hinglish", "pa": "Punjabi",
               "or": "Odia"}
COMPLAINT = "file_complaint"
# The intents in the order the figures list them: the main menu's flows, then the words.
INTENTS = ("greet", COMPLAINT, "track_complaint", "pay_bill", "view_receipts",
           "request_certificate", "change_language", "help", "stop", "affirm", "deny")
SEED_TYPES = REPO_DIR / "core_api" / "seed" / "data" / "complaint_types.yaml"
_ANNOTATION = re.compile(r"\[([^\]]+)\]\((\w+)(?::([^)]+))?\)")

Reader = Callable[[str], Awaitable[Understanding]]


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    complaint_type: str | None  # gold code; None for a complaint naming no type
    style: str | None
    annotated: str  # the line with its entity annotations


def split_path(split: str) -> Path:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; one of {', '.join(SPLITS)}")
    return EVAL_DIR / f"{split}.yml"


def read_examples(path: Path) -> list[Example]:
    """Examples of a Rasa NLU file; ``file_complaint/<code>`` gives the gold type too."""
    examples = []
    for block in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu", []):
        if "intent" not in block:
            continue
        intent, _, sub = block["intent"].partition("/")
        style = (block.get("metadata") or {}).get("style")
        for line in block["examples"].splitlines():
            line = line.strip()
            if not line.startswith("- "):
                continue
            annotated = line[2:]
            found = {m.group(2): m.group(3) or m.group(1) for m in _ANNOTATION.finditer(annotated)}
            code = found.get("complaint_type") or (sub if sub and sub != "none" else None)
            text = _ANNOTATION.sub(lambda m: m.group(1), annotated)
            examples.append(Example(text, intent, code, style, annotated))
    return examples


def seed_complaint_types() -> list[dict[str, Any]]:
    """The seed catalogue as the core API lists it (code, names and keywords per language)."""
    data = yaml.safe_load(SEED_TYPES.read_text(encoding="utf-8"))
    return [
        {"code": sub["code"],
         "names": {k.removeprefix("name_"): v for k, v in sub.items() if k.startswith("name_")},
         "keywords": {k.removeprefix("keywords_"): v for k, v in sub.items()
                      if k.startswith("keywords_")}}
        for category in data["categories"] for sub in category["subtypes"]
    ]


def _rate(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


@dataclass
class Scores:
    """Flow (intent) accuracy per language and per flow, the confusion of intents, and
    complaint-type accuracy: a complaint is typed right when it is read as a complaint
    with its gold type (or with none when the text names none)."""

    counts: dict[str, Counter[str]] = field(default_factory=dict)
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)
    misses: list[str] = field(default_factory=list)

    def add(self, example: Example, intent: str | None, code: str | None) -> None:
        got = intent or "-"
        self.confusion[(example.intent, got)] += 1
        right = intent == example.intent
        typed = intent == COMPLAINT and code == example.complaint_type
        for key in ("all", f"style:{example.style}", f"intent:{example.intent}"):
            bucket = self.counts.setdefault(key, Counter())
            bucket["n"] += 1
            bucket["right"] += right
            if example.intent == COMPLAINT:
                bucket["complaints"] += 1
                bucket["typed"] += typed
        if not right or (example.intent == COMPLAINT and not typed):
            self.misses.append(f"[{example.style}] {example.text!r}: "
                               f"{example.intent}/{example.complaint_type} -> {got}/{code}")

    def row(self, key: str) -> dict[str, Any]:
        bucket = self.counts.get(key, Counter())
        return {"n": bucket["n"], "flow_accuracy": _rate(bucket["right"], bucket["n"]),
                "complaints": bucket["complaints"],
                "type_accuracy": _rate(bucket["typed"], bucket["complaints"])}

    def styles(self) -> list[str]:
        found = {key.removeprefix("style:") for key in self.counts if key.startswith("style:")}
        return [s for s in STYLES if s in found] + sorted(found - set(STYLES))

    def intents(self) -> list[str]:
        found = {key.removeprefix("intent:") for key in self.counts if key.startswith("intent:")}
        return [i for i in INTENTS if i in found] + sorted(found - set(INTENTS))

    def figures(self) -> dict[str, Any]:
        return {"all": self.row("all"),
                "styles": {style: self.row(f"style:{style}") for style in self.styles()},
                "intents": {intent: self.row(f"intent:{intent}") for intent in self.intents()},
                "misses": list(self.misses)}


async def evaluate(examples: Iterable[Example], reader: Reader) -> Scores:
    """Read every example with ``reader`` and score it."""
    scores = Scores()
    for example in examples:
        result = await reader(example.text)
        scores.add(example, result.intent, result.entities.get("complaint_type"))
    return scores


# Rasa's lowest acted-on confidence is calibrated per writing system among these.
CANDIDATE_LOWS = tuple(round(0.3 + 0.05 * step, 2) for step in range(10))  # 0.30 .. 0.75


async def calibrate(examples: Iterable[Example], parse: Callable[[str], Awaitable[dict[str, Any]]],
                    fallback: NLU) -> dict[str, dict[float, float]]:
    """Writing system -> {lowest confidence: flow accuracy} of the bot's reading with Rasa
    (``RasaNLU`` over ``fallback``) on ``examples``, each parsed by Rasa once."""
    examples = list(examples)
    bodies = {example.text: await parse(example.text) for example in examples}

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=bodies[json.loads(request.content)["text"]])

    found: dict[str, dict[float, float]] = {}
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        for low in CANDIDATE_LOWS:
            nlu = RasaNLU(http, "http://rasa.invalid", fallback, timeout_s=30.0,
                          low=dict.fromkeys((LATIN, *SCRIPT_BLOCKS), low))
            right: Counter[str] = Counter()
            total: Counter[str] = Counter()
            for example in examples:
                script = script_of(example.text)
                total[script] += 1
                right[script] += (await nlu.understand(example.text, None)).intent == example.intent
            for script, count in total.items():
                found.setdefault(script, {})[low] = round(right[script] / count, 4)
    return found

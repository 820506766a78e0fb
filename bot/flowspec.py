"""The flow format: ``flows/<id>/flow.yaml``, one dialog flow per folder, validated at load time.

A flow is a set of named steps. Each step is exactly one of:

``ask``     send a prompt (message id) and wait for a typed input; ``save`` it in a slot::

                ask: complaint.ask_description
                input: {type: text, max_length: 500, optional: true}
                save: description
                next: confirm

``say``     send one or more messages, then continue at ``next``.
``call``    call a core-API operation with ``args``; ``save`` the result; on failure the
            citizen hears "could not do that now" and goes to ``on_error`` (default: the
            last question again, with everything entered kept).
``do``      run a pure helper (``flows/<id>/actions.py``, ``bot/shared_actions.py``) that
            derives slots.
``branch``  go to ``cases[value]`` (or ``default``) of an expression.

``next`` names a step of the same flow, ``@flow`` to enter another flow (``@main_menu``
ends the current task), or ``^`` to return to the flow that entered this one. A ``next``
mapping picks the target by the saved value (``{yes: submit, no: "@main_menu"}``).
Expressions are ``{slot.path}`` with optional filters: ``{bill.total|amount}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from bot.channel_kinds import registered_kind

FLOWS_DIR = Path(__file__).resolve().parent.parent / "flows"
SPEC_VERSION = 1

InputType = Literal["choice", "text", "number", "phone", "consumer_number", "date",
                    "location", "image", "yes_no"]
FILTERS = ("amount", "day", "moment", "name", "upper", "count", "mask")
# A ``{slot.path|filter}`` expression: the path, and the filter if any.
EXPRESSION = re.compile(r"\{([a-zA-Z_][\w.]*)(?:\|(\w+))?\}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OptionDef(_Strict):
    """A fixed option: id and the message id of its label."""

    id: str
    label: str
    # Offered only on these channel kinds (each one registered in ``bot.channel_kinds``).
    channels: list[Annotated[str, AfterValidator(registered_kind)]] | None = None


class DynamicOptions(_Strict):
    """Options built from a list in a slot (e.g. complaint types from the core API)."""

    source: str  # slot path of a list of dicts
    id: str  # field holding the option id
    label: str  # field holding the label: a string or {"en": .., "hi": ..}
    # An operation that gives the items' other names (every language, romanised spellings),
    # called with ``{ids: [...]}`` when a typed answer names no label; it answers
    # ``{id: [name, ...]}`` ("dehradun" at the Hindi city list). The session keeps none.
    names: str | None = None
    description: str | None = None
    limit: int = Field(10, ge=1, le=10)


class InputDef(_Strict):
    type: InputType
    options: list[OptionDef] = Field(default_factory=list)
    options_from: DynamicOptions | None = None
    min_length: int = 1
    max_length: int = 1000
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None  # consumer numbers
    optional: bool = False  # the citizen may answer "skip"
    nlu: Literal["intents", "complaint_types"] | None = None  # free text understood
    hint: str | None = None  # message id shown for a wrong answer instead of the type's own
    # A choice: typed text that names no option is kept in this slot and answers ``typed``
    # (another place typed at "did you mean": ``next: {typed: search_place}``).
    typed: str | None = None


class StepDef(_Strict):
    ask: str | None = None
    say: str | list[str] | None = None
    call: str | None = None
    do: str | None = None
    branch: str | None = None

    params: dict[str, str] = Field(default_factory=dict)
    input: InputDef | None = None
    save: str | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    cases: dict[str, str] = Field(default_factory=dict)
    default: str | None = None
    next: str | dict[str, str] | None = None
    on_error: str | None = None
    retries: int = Field(3, ge=1, le=5)
    media: str | None = None  # expression: a list of {url, content_type, filename}
    # Slots handed to the flow ``next`` enters (``{complaint_id: "{complaint_id}"}``); the
    # entered flow then works as a sub-task: BACK returns to this flow's questions.
    carry: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_kind(self) -> StepDef:
        kinds = [k for k in ("ask", "say", "call", "do", "branch") if getattr(self, k)]
        if len(kinds) != 1:
            raise ValueError(f"a step is exactly one of ask/say/call/do/branch, got {kinds}")
        if self.ask and self.input is None:
            raise ValueError("an ask step needs an input")
        if self.input and self.input.type == "choice" and not (
            self.input.options or self.input.options_from
        ):
            raise ValueError("a choice needs options or options_from")
        if self.input and self.input.typed and not (
            self.input.type == "choice" and isinstance(self.next, dict) and "typed" in self.next
        ):
            raise ValueError("typed is for a choice whose next maps the answer typed")
        if self.branch and not (self.cases or self.default):
            raise ValueError("a branch needs cases or a default")
        return self

    @property
    def kind(self) -> str:
        for kind in ("ask", "say", "call", "do", "branch"):
            if getattr(self, kind):
                return kind
        raise AssertionError("validated above")

    def targets(self) -> list[str]:
        """Every step or flow this step can lead to."""
        found: list[str] = []
        if isinstance(self.next, str):
            found.append(self.next)
        elif isinstance(self.next, dict):
            found.extend(self.next.values())
        found.extend(self.cases.values())
        for target in (self.default, self.on_error):
            if target:
                found.append(target)
        return found

    def messages(self) -> list[str]:
        """Message ids this step shows."""
        ids = [self.ask] if self.ask else []
        if isinstance(self.say, str):
            ids.append(self.say)
        elif self.say:
            ids.extend(self.say)
        if self.input:
            ids.extend(option.label for option in self.input.options)
            if self.input.hint:
                ids.append(self.input.hint)
        return ids


class FlowDef(_Strict):
    spec_version: Literal[1]
    id: str
    description: str = ""
    start: str
    staff: bool = False  # employee-only flow
    # NLU intents (``locales/<code>/nlu.yaml``, the Rasa domain) that start this flow when
    # their name is not the flow's id: ``intents: [view_receipts]`` on flow receipts.
    intents: list[str] = Field(default_factory=list)
    # An operation that puts the names the flow's slots hold from data (option lists built
    # by ``options_from``, chosen places) in the session's language: run when the flow is
    # resumed after a language switch, which asks the question again in the new language.
    relabel: str | None = None
    steps: dict[str, StepDef]

    @model_validator(mode="after")
    def _start_exists(self) -> FlowDef:
        if self.start not in self.steps:
            raise ValueError(f"start step {self.start!r} is not defined")
        return self


def expressions(text: str) -> list[tuple[str, str | None]]:
    """The (path, filter) pairs of ``{path|filter}`` expressions in ``text``."""
    return [(m.group(1), m.group(2)) for m in EXPRESSION.finditer(text)]


def load_flow(path: Path) -> FlowDef:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    flow = FlowDef.model_validate(data)
    if flow.id != path.parent.name:
        raise ValueError(f"{path}: id {flow.id!r} must match its folder's name")
    return flow


def flow_files(directory: Path = FLOWS_DIR) -> list[Path]:
    """``flows/<id>/flow.yaml`` for every flow folder, sorted by id."""
    return sorted(directory.glob("*/flow.yaml"))


@cache
def load_flows(directory: Path = FLOWS_DIR) -> dict[str, FlowDef]:
    """Every flow in ``directory`` by id (validated; cached for the process)."""
    return {path.parent.name: load_flow(path) for path in flow_files(directory)}


def intent_flows(flows: Mapping[str, FlowDef]) -> dict[str, str]:
    """NLU intent -> the flow it starts, for the intents flows declare (any other intent
    starts the flow of its own name); an intent two flows declare is an error."""
    found: dict[str, str] = {}
    for flow in flows.values():
        for intent in flow.intents:
            if found.setdefault(intent, flow.id) != flow.id:
                raise ValueError(f"intent {intent!r} is declared by flows {found[intent]} "
                                 f"and {flow.id}")
    return found

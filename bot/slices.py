"""The flows' slices, found by convention: one folder per flow, and the registries built
from them.

A slice is ``flows/<id>/``: ``flow.yaml`` (the dialog), ``transcripts/*.yaml`` (its
conversations, replayed by ``tests/bot/test_transcripts.py``) and, when the flow needs
code, ``actions.py`` declaring the module-level dicts ``OPERATIONS`` (core-API operations
its ``call`` steps name) and ``HELPERS`` (pure helpers its ``do`` steps name)::

    OPERATIONS = {"list_receipts": list_receipts, "get_receipt": get_receipt}

Operations and helpers several flows call are declared the same way in
``bot.shared_actions``. ``load_slices`` imports every ``actions.py`` explicitly (nothing
registers itself on import) and merges the dicts: a name declared twice is an error naming
both places, so a flow can never silently run another flow's code.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import Any

from bot.core_client import Operation
from bot.flowspec import FLOWS_DIR, FlowDef, flow_files, intent_flows, load_flows
from bot.services import Helper

SHARED_ACTIONS = "bot.shared_actions"
ACTIONS_FILE = "actions.py"


class SliceError(ValueError):
    """Two places declare the same operation or helper, or a declaration is not a dict."""


@dataclass(frozen=True)
class Slices:
    """Everything the engine and the core-API client run, gathered from the slices."""

    flows: dict[str, FlowDef]
    operations: dict[str, Operation]
    helpers: dict[str, Helper]
    intents: dict[str, str]  # NLU intent -> the flow it starts, where the names differ


@dataclass(frozen=True)
class Actions:
    """The merged registries of ``bot.shared_actions`` and every ``flows/<id>/actions.py``."""

    operations: dict[str, Operation]
    helpers: dict[str, Helper]


def actions_modules() -> dict[str, ModuleType]:
    """The modules that declare actions, by where they are: ``bot/shared_actions.py`` and
    ``flows/<id>/actions.py`` of every flow folder that has one."""
    modules = {"bot/shared_actions.py": importlib.import_module(SHARED_ACTIONS)}
    for path in flow_files():
        if (path.parent / ACTIONS_FILE).exists():
            flow_id = path.parent.name
            modules[f"{FLOWS_DIR.name}/{flow_id}/{ACTIONS_FILE}"] = importlib.import_module(
                f"{FLOWS_DIR.name}.{flow_id}.actions")
    return modules


def _merge(kind: str, declared: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One registry from each module's dict ``kind``; a name in two modules is an error."""
    merged: dict[str, Any] = {}
    owner: dict[str, str] = {}
    for where, entries in declared.items():
        for name, fn in entries.items():
            if name in merged:
                raise SliceError(f"{kind[:-1].lower()} {name!r} is declared in both "
                                 f"{owner[name]} and {where}")
            merged[name], owner[name] = fn, where
    return merged


def _declared(module: ModuleType, where: str, kind: str) -> Mapping[str, Any]:
    entries = getattr(module, kind, {})
    if not isinstance(entries, Mapping):
        raise SliceError(f"{where}: {kind} must be a dict of name -> function")
    return entries


def merge_actions(modules: Mapping[str, ModuleType]) -> Actions:
    """The registries of ``modules`` (by where they are) merged into one of each kind."""
    return Actions(
        operations=_merge("OPERATIONS", {where: _declared(module, where, "OPERATIONS")
                                         for where, module in modules.items()}),
        helpers=_merge("HELPERS", {where: _declared(module, where, "HELPERS")
                                   for where, module in modules.items()}),
    )


@cache
def load_actions() -> Actions:
    """Every operation and helper, by name (imported once per process)."""
    return merge_actions(actions_modules())


@cache
def load_slices() -> Slices:
    """The flows, their operations, helpers and NLU intents (validated; cached)."""
    flows = load_flows()
    actions = load_actions()
    return Slices(flows=flows, operations=actions.operations, helpers=actions.helpers,
                  intents=intent_flows(flows))

"""One event contract (core_api.events.contract) for the publisher and the notifier.

Fails when core_api publishes an event type without a schema, when the notifier neither
handles a type nor declares it not notified, when a notifier handler reads a field its
schema lacks, when a schema's fields change without its version changing, and when a
payload that breaks its schema is published.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot import notifier
from core_api.events import contract
from core_api.events.contract import EVENTS, EventContractError, fingerprint
from core_api.events.outbox import emit
from tests.event_examples import example

ROOT = Path(__file__).resolve().parents[3]

# The fields of each event type and version, as committed. A change of fields needs a
# new version (add its fingerprint here; the old entries stay as the record).
FINGERPRINTS = {
    ("complaint.created", 1): "e16c9779054221ca",
    ("complaint.status_changed", 1): "4e320ecd0fe417c0",
    ("complaint.sla_warning", 1): "dbe65f236d0ab834",
    ("complaint.escalated", 1): "dbe65f236d0ab834",
    ("workflow.transitioned", 1): "276b4c7695db6c1c",
    ("payment.failed", 1): "d8450f3e48b4a7a1",
    ("payment.needs_review", 1): "08021adb5a4e8de8",
    ("payment.completed", 1): "1ba23d6ea1a61899",
    ("certificate.status_changed", 1): "cbee84ff9d9fa244",
    ("certificate.issued", 1): "4ac7584ce4be588f",
    # v2 (issue 17): case channels, locality, photos, recategorising, escalation levels,
    # certificate approvers.
    ("complaint.created", 2): "260b66e64c4e9b84",
    ("complaint.status_changed", 2): "b602d8c39e802523",
    ("complaint.recategorised", 1): "30b6fe1a92ba4265",
    ("complaint.escalated", 2): "c25a33d4013ae50f",
    ("payment.completed", 2): "73ef824e7f3ca5df",
    ("certificate.status_changed", 2): "73ecf61181697a4d",
    ("certificate.issued", 2): "d49336f0d43369db",
}


def _published_topics() -> dict[str, list[str]]:
    """Every topic passed to ``emit`` anywhere in core_api, with where: a literal, or a
    name the same function assigns from literals (``topic = "a" if x else "b"``)."""
    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / "core_api").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            assigned: dict[str, list[str]] = {}
            for node in ast.walk(function):
                if isinstance(node, ast.Assign):
                    for target in node.targets:
                        if isinstance(target, ast.Name):
                            assigned.setdefault(target.id, []).extend(
                                c.value for c in ast.walk(node.value)
                                if isinstance(c, ast.Constant) and isinstance(c.value, str))
            for node in ast.walk(function):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                        and node.func.id == "emit" and len(node.args) >= 2):
                    continue
                arg = node.args[1]
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    topics = [arg.value]
                elif isinstance(arg, ast.Name) and assigned.get(arg.id):
                    topics = assigned[arg.id]
                else:
                    raise AssertionError(f"{where}: emit with a topic this test cannot read")
                for topic in topics:
                    found.setdefault(topic, []).append(where)
    return found


def test_every_published_event_type_has_a_schema_and_every_schema_is_published() -> None:
    published = _published_topics()
    assert "certificate.issued" in published and "complaint.escalated" in published
    missing = {topic: where for topic, where in published.items() if topic not in EVENTS}
    assert not missing, f"published without a schema in core_api.events.contract: {missing}"
    assert set(EVENTS) - set(published) == set(), "schemas nobody publishes"
    for topic, model in EVENTS.items():
        assert model.topic == topic


def test_a_schemas_fields_do_not_change_without_a_new_version() -> None:
    for topic, model in EVENTS.items():
        key = (topic, model.version)
        assert key in FINGERPRINTS, f"{key}: record its fingerprint {fingerprint(model)!r}"
        assert fingerprint(model) == FINGERPRINTS[key], (
            f"the fields of {topic} changed: raise its version and record "
            f"({topic!r}, {model.version + 1}): {fingerprint(model)!r}")


def test_every_event_type_is_handled_or_declared_not_notified() -> None:
    handled, silent = set(notifier.HANDLERS), set(notifier.NOT_NOTIFIED)
    assert handled & silent == set()
    assert handled | silent == set(EVENTS), (
        f"no notifier decision for {sorted(set(EVENTS) - handled - silent)}; "
        f"unknown types {sorted((handled | silent) - set(EVENTS))}")


def _contract_models_of(function: ast.FunctionDef) -> dict[str, type[Any]]:
    models = {}
    for arg in function.args.args:
        name = arg.annotation.id if isinstance(arg.annotation, ast.Name) else None
        model = getattr(contract, name, None) if name else None
        if isinstance(model, type) and issubclass(model, contract.BaseModel):
            models[arg.arg] = model
    return models


def test_notifier_handlers_read_only_declared_fields() -> None:
    """Statically: every ``event.x`` a handler reads is a field of its parameter's schema,
    and no raw ``payload.get("x")`` / ``payload["x"]`` bypasses the contract."""
    tree = ast.parse((ROOT / "bot" / "notifier.py").read_text())
    checked = 0
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef):
            continue
        models = _contract_models_of(function)
        for node in ast.walk(function):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in models):
                model = models[node.value.id]
                assert node.attr in model.model_fields, (
                    f"{function.name} reads {node.attr!r}, which {model.__name__} lacks")
                checked += 1
            reads_payload = (
                isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name)
                and node.value.id == "payload") or (
                isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get" and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "payload")
            assert not reads_payload, f"{function.name} reads the payload past the contract"
    assert checked > 20


@pytest.mark.parametrize("topic", sorted(EVENTS))
def test_every_handler_runs_on_payloads_built_from_its_schema(topic: str) -> None:
    statuses = [*notifier.COMPLAINT_MESSAGES, *notifier.CERTIFICATE_MESSAGES, "ISSUED"]
    for status in statuses if "status" in EVENTS[topic].model_fields else [None]:
        for action in ("APPLY", "ASSIGN", "REASSIGN", "RESOLVE"):
            values = {"status": status} if status else {}
            if "action" in EVENTS[topic].model_fields:
                values["action"] = action
            notifier.notifications_for("e1", topic, example(topic, **values))
    sent = notifier.notifications_for("e1", topic, example(topic))
    assert (topic in notifier.HANDLERS) or sent == []


def test_the_notifier_refuses_a_payload_missing_a_declared_field() -> None:
    payload = example("certificate.issued")
    del payload["citizen_phone"]
    with pytest.raises(EventContractError, match="citizen_phone"):
        notifier.notifications_for("e1", "certificate.issued", payload)
    # A field a newer publisher added is ignored by the reader (a rolling deploy).
    [note] = notifier.notifications_for("e1", "certificate.issued",
                                        {**example("certificate.issued"), "new": 1})
    assert note.kind == "certificate_issued"


class _Session:
    def __init__(self) -> None:
        self.added: list[Any] = []

    def add(self, thing: Any) -> None:
        self.added.append(thing)


def test_publishing_a_payload_that_breaks_its_schema_fails_loudly() -> None:
    session = _Session()
    good = example("certificate.issued")
    emit(session, "certificate.issued", "uk.dehradun", "CR-1", good)  # type: ignore[arg-type]
    assert len(session.added) == 1
    missing = {k: v for k, v in good.items() if k != "download_url"}
    wrong_type = {**good, "citizen_user_id": "seven"}
    old_names = {k: v for k, v in good.items() if not k.startswith("citizen_")} | {
        "phone": "+919876500001", "locale": "hi_IN", "user_id": 7}
    for topic, payload, says in (
        ("certificate.issued", missing, "download_url"),
        ("certificate.issued", {**good, "surprise": 1}, "surprise"),
        ("certificate.issued", wrong_type, "citizen_user_id"),
        ("certificate.issued", old_names, "citizen_phone"),  # the issue 17 mismatch
        ("certificate.mailed", good, "no declared schema"),
    ):
        with pytest.raises(EventContractError, match=says):
            emit(session, topic, "uk.dehradun", "CR-1", payload)  # type: ignore[arg-type]
    assert len(session.added) == 1


def test_the_contract_imports_nothing_of_core_api_so_the_bot_may_read_it() -> None:
    tree = ast.parse((ROOT / "core_api" / "events" / "contract.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= {"__future__", "hashlib", "json", "typing", "pydantic"}, imported
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, bot.notifier; print(sorted(m for m in sys.modules"
         " if m.split('.')[0] == 'core_api'))"],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "['core_api', 'core_api.events', 'core_api.events.contract']"

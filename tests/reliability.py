"""The reliability report: fault, abuse and fuzzing tests each add a row of what they did.

A test asks for the ``reliability`` fixture and records, in plain words, the fault or
attack, what was sent, what the system did and what was lost (measured by the test,
which also asserts it). At the end of the run the rows, with each test's outcome and
duration, are written as a markdown table to ``tests/artifacts/reliability.md`` (or to
``SAMVAD_RELIABILITY_OUT``); ``make reliability`` writes it to RELIABILITY.md.

    def test_redis_restart(reliability, ...):
        ...
        reliability.record(
            area="fault", case="Redis restarted mid-conversation",
            sent="40 citizens, 3 turns each", did="conversations restarted politely",
            lost="nothing (40/40 complaints, 120/120 replies)",
        )
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

AREAS = {
    "fault": "Faults",
    "abuse": "Attacks and bad input",
    "fuzz": "Fuzzing",
    "privacy": "Privacy",
}
DEFAULT_OUT = Path(__file__).parent / "artifacts" / "reliability.md"
KEPT_SECTION = "## Known limits"


@dataclass
class Row:
    area: str
    case: str
    sent: str
    did: str
    lost: str
    test: str
    outcome: str = "running"
    seconds: float = 0.0


@dataclass
class Recorder:
    """The rows of one test; ``record`` may be called several times."""

    test: str
    rows: list[Row] = field(default_factory=list)

    def record(self, *, area: str, case: str, sent: str, did: str, lost: str) -> None:
        if area not in AREAS:
            raise ValueError(f"area must be one of {sorted(AREAS)}, not {area!r}")
        self.rows.append(Row(area, case, sent, did, lost, self.test))


_ROWS: list[Row] = []
_STARTED = time.time()


@pytest.fixture
def reliability(request: pytest.FixtureRequest) -> Recorder:
    recorder = Recorder(test=request.node.nodeid)
    request.node._reliability = recorder  # read back by the report hook below
    return recorder


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    recorder: Recorder | None = getattr(item, "_reliability", None)
    if recorder is None or report.when != "call":
        return
    for row in recorder.rows:
        row.outcome = report.outcome
        row.seconds = report.duration
        _ROWS.append(row)
    if report.failed and not recorder.rows:
        _ROWS.append(Row("fault", item.name, "-", "test failed before recording", "?",
                         item.nodeid, "failed", report.duration))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(rows: list[Row], elapsed: float) -> str:
    lines = [
        "<!-- written by tests/reliability.py from a test run; do not edit by hand -->",
        f"Rows: {len(rows)}; passed: {sum(r.outcome == 'passed' for r in rows)}; "
        f"test time of these rows: {sum(r.seconds for r in rows):.0f} s "
        f"(whole run {elapsed:.0f} s).",
        "",
    ]
    for area, title in AREAS.items():
        selected = [r for r in rows if r.area == area]
        if not selected:
            continue
        lines += [f"## {title}", "",
                  "| case | what was sent | what the system did | lost | result | s | test |",
                  "|---|---|---|---|---|---|---|"]
        for r in selected:
            test = r.test.split("::", 1)[-1]
            lines.append(f"| {_cell(r.case)} | {_cell(r.sent)} | {_cell(r.did)} | {_cell(r.lost)}"
                         f" | {r.outcome} | {r.seconds:.1f} | `{_cell(test)}` |")
        lines.append("")
    return "\n".join(lines)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _ROWS:
        return
    out = Path(os.environ.get("SAMVAD_RELIABILITY_OUT") or DEFAULT_OUT)
    out.parent.mkdir(parents=True, exist_ok=True)
    header = ""
    if out.name == "RELIABILITY.md":
        header = ("# Reliability\n\nWhat Samvad survives and what it refuses, from the fault, "
                  "abuse, fuzzing and privacy tests (`make reliability`).\n\n")
    # The hand-written "Known limits" section of an existing report survives regeneration.
    kept = ""
    if out.exists():
        previous = out.read_text(encoding="utf-8")
        if KEPT_SECTION in previous:
            kept = "\n" + previous[previous.index(KEPT_SECTION):]
    out.write_text(header + render(_ROWS, time.time() - _STARTED) + kept, encoding="utf-8")

"""Step kinds: one module each, and ``STEP_KINDS``, the registry the engine dispatches on.

A flow step is exactly one kind (``bot/flowspec.py``): ``ask`` (a question; the turn
waits for the answer), ``say`` (messages), ``call`` (a core-API operation), ``do`` (a
pure helper) or ``branch`` (pick the next step by a value). Each module's docstring shows
its YAML and says what it does; ``bot/steps/cases/<kind>.yaml`` holds its test cases,
small flows run through the real engine by ``tests/bot/test_step_kinds.py``.

Shared pieces: ``context`` (what a step kind is given and answers), ``expressions``
(``{slot.path|filter}`` values, a step's texts and media), ``options`` (the options of a
question and their pages).

Adding a step kind ``wait``: its field on ``StepDef`` (and in the kind list of
``StepDef._one_kind`` and ``StepDef.kind``), ``bot/steps/wait.py`` with
``async def run(ctx, here) -> Next``, one line in ``STEP_KINDS`` below, and
``bot/steps/cases/wait.yaml`` (the test fails for a registered kind without cases).
"""

from __future__ import annotations

from bot.steps import ask, branch, call, do, say
from bot.steps.context import StepKind

STEP_KINDS: dict[str, StepKind] = {
    "ask": ask.run,
    "say": say.run,
    "call": call.run,
    "do": do.run,
    "branch": branch.run,
}

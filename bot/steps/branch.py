"""``branch``: go on at the case matching an expression's value, else at ``default``.

::

    found_status:                         # flows/pay_bill/flow.yaml
      branch: "{found.status}"
      cases: {none: not_found, paid: all_paid, one: load_found}
      default: pick_found

The value is compared as text: ``true``/``false`` for booleans, ``""`` for a missing
value, numbers as written (``branch: "{types|count}"`` with ``cases: {"1": take_type}``).
"""

from __future__ import annotations

from bot.steps.context import Here, Next, StepContext
from bot.steps.expressions import value


async def run(ctx: StepContext, here: Here) -> Next:
    """The target of the matching case, or ``default``."""
    step = here.step
    found = value(ctx.session, step.branch or "")
    key = "" if found is None else str(found).lower() if isinstance(found, bool) else str(found)
    return step.cases.get(key, step.default)

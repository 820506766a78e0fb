"""``do``: run a registered helper, a pure function that derives slots from slots.

::

    check_number:                         # flows/certificate_request/flow.yaml
      do: normalize_registration_number   # a helper, by name
      next: number_ok

A helper takes the slots and the session and returns the slots to set. A ``_next`` key
in what it returns picks the next step instead of ``next``. Helpers do no I/O.
"""

from __future__ import annotations

from bot.steps.context import Here, Next, StepContext, next_target


async def run(ctx: StepContext, here: Here) -> Next:
    """Run the helper, set the slots it returns, go on at its ``_next`` or the step's."""
    step, s = here.step, ctx.session
    updates = ctx.helpers[step.do or ""](s.slots, s)
    route = updates.pop("_next", None)
    s.slots.update(updates)
    return route if route is not None else next_target(step, None)

"""``call``: run a core-API operation with ``args``; ``save`` the result; go on at ``next``.

::

    search_nlu_place:                     # flows/file_complaint/flow.yaml
      call: complaint_find_places         # a core-API operation, by name
      args: {q: "{nlu_locality}"}         # values are expressions
      save: found
      on_error: where                     # optional: where a failure goes on
      next: nlu_place_found               # or a mapping by the result's value

When the operation fails, its error code is kept in the ``error`` slot. With ``on_error``
the flow goes on there (the flow tells the person what happened). Without it the person
hears "could not do that now" and gets the last question again, everything entered
kept (the main menu when there was no question yet).
"""

from __future__ import annotations

from bot.i18n import translate
from bot.messages import Outgoing
from bot.services import ServiceError
from bot.steps import ask
from bot.steps.context import WAIT, Here, Next, StepContext, next_target
from bot.steps.expressions import value


async def run(ctx: StepContext, here: Here) -> Next:
    """Call the operation; a failure goes to ``on_error`` or back to the last question."""
    step, s = here.step, ctx.session
    args = {name: value(s, expr) for name, expr in step.args.items()}
    try:
        result = await ctx.services.call(step.call or "", args, s)
    except ServiceError as exc:
        s.slots["error"] = exc.code
        if step.on_error:
            return step.on_error
        ctx.effects.append("api_failed")
        ctx.replies.append(Outgoing(translate(s.locale, "global.try_again")))
        asked = ctx.flows.get(s.flow or "", ctx.flows[here.flow_id])
        if s.flow and s.step and s.step in asked.steps:
            ctx.replies.append(ask.prompt(ctx, ctx.flows[s.flow].steps[s.step]))
        else:
            await ctx.go_home()
        return WAIT
    if step.save:
        s.slots[step.save] = result
    return next_target(step, result)

"""``say``: send one or more messages, then go on at ``next`` without waiting.

::

    send_link_qr:                         # flows/pay_bill/flow.yaml
      say: [pay_bill.link, pay_bill.upi_qr]   # one message id, or several in order
      params:                             # placeholders of every message
        amount: "{payment.amount|amount}"
        url: "{payment.url}"
      media: "{payment.media}"            # files sent with the last message
      next: "@main_menu"
"""

from __future__ import annotations

from bot.messages import Outgoing
from bot.screen import tap_id
from bot.steps.context import Here, Next, StepContext, next_target
from bot.steps.expressions import step_media, step_text


async def run(ctx: StepContext, here: Here) -> Next:
    """Send the messages (the media with the last one) and continue."""
    step, s = here.step, ctx.session
    ids = [step.say] if isinstance(step.say, str) else list(step.say or [])
    for index, msgid in enumerate(ids):
        media = step_media(s, step) if index == len(ids) - 1 else ()
        tapped = tap_id(msgid)
        ctx.replies.append(Outgoing(step_text(s, msgid, step), media=media,
                                    tap_text=step_text(s, tapped, step) if tapped else None))
    return next_target(step, None)

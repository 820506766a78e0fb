"""The chat channel a request was made on (``"whatsapp"``, ``"sms"``, ...), as one string type.

The channel kinds are registered once, in the bot (``bot/channel_kinds.py``), and core_api
may not import the bot. So core_api does not list them: it keeps only a kind's shape, a
short lower-case name that fits the ``String(16)`` columns it is stored in, and a new kind
needs no change here. Every schema with a channel uses ``ChannelKind``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

CHANNEL_KIND_PATTERN = r"^[a-z][a-z0-9_]{0,15}$"

# For the schema descriptions: what the bot sends today.
SENT_BY_THE_BOT = ("A channel kind: the bot sends `whatsapp` or `sms`; any lower-case name "
                   "(a letter, then letters, digits or underscores; at most 16) is accepted.")

ChannelKind = Annotated[str, StringConstraints(pattern=CHANNEL_KIND_PATTERN, max_length=16)]

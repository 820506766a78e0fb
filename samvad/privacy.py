"""Who holds a citizen's data outside the database: the forgetters core_api's export and
erasure (``core_api.users.privacy``) ask, since core_api knows no other layer's keys.

A layer that starts keeping Redis keys named by a phone number adds its ``OwnedKeys``
here (and a test that its forget removes them).
"""

from __future__ import annotations

from redis.asyncio import Redis

from bot.personal_keys import conversation_keys
from channels.queues import channel_keys
from core_api.users.privacy import Forgetter


def forgetters(redis: Redis) -> list[Forgetter]:
    """The bot's and the channels' keys about a number, on ``redis``."""
    return [conversation_keys(redis), channel_keys(redis)]

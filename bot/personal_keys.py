"""The Redis keys the bot writes about one phone number, for a citizen's export and erasure.

core_api erases a citizen (``core_api.users.privacy``) but knows no other layer's keys:
the composition root hands it one ``OwnedKeys`` per layer (``samvad.privacy``), and each
names only the keys its own code writes, from that code's key functions. The bot's are
the conversation of each channel kind (session, lock, the dedupe marks and kept replies of
its messages), the once-per-person notification markers, the simulator's inbox and the
pending "is it fixed?" question. The channels name theirs with the same class.
"""

from __future__ import annotations

from collections.abc import Callable

from redis.asyncio import Redis

from bot.channel_kinds import channel_kinds
from bot.followup import CaseFollowUps
from bot.notifier import NOTIFIED_PREFIX, SimulatorInbox
from bot.session_store import SessionStore, conversation_key

SCAN_COUNT = 500


class OwnedKeys:
    """One layer's keys about a number, named by ``patterns(phone)``: exact keys, or Redis
    glob patterns (with ``*``) where a key also carries an id the number does not give
    (a message id, an event id). core_api's ``Forgetter`` protocol."""

    def __init__(self, redis: Redis, patterns: Callable[[str], list[str]]) -> None:
        self.redis = redis
        self.patterns = patterns

    async def keys(self, phone: str) -> list[str]:
        """The keys held now about ``phone``, sorted."""
        found: set[str] = set()
        for pattern in self.patterns(phone):
            if "*" not in pattern:
                if await self.redis.exists(pattern):
                    found.add(pattern)
                continue
            async for key in self.redis.scan_iter(match=pattern, count=SCAN_COUNT):
                found.add(key.decode() if isinstance(key, bytes) else key)
        return sorted(found)

    async def forget(self, phone: str) -> int:
        """Delete every key held about ``phone``; how many there were."""
        keys = await self.keys(phone)
        if keys:
            await self.redis.delete(*keys)
        return len(keys)


def conversation_keys(redis: Redis) -> OwnedKeys:
    """The bot's keys about a number on ``redis``, named by the stores that write them."""
    sessions, inbox, follow_ups = SessionStore(redis), SimulatorInbox(redis), CaseFollowUps(redis)

    def patterns(phone: str) -> list[str]:
        names = [f"{NOTIFIED_PREFIX}*:{phone}", follow_ups.key(phone)]
        for channel in channel_kinds():
            keys = sessions.keys(conversation_key(channel, phone))
            names += [keys.session, keys.lock, keys.message_prefix + "*",
                      inbox.key(channel, phone)]
        return names

    return OwnedKeys(redis, patterns)

"""New complaints for a GRO, told in one message when several arrive close together.

A GRO hears of every new complaint of their city and department (``new_complaint``).
When a storm brings ten in five minutes, ten messages are noise (and ten templates'
cost): ``GroDigest.hold`` keeps each in Redis per GRO, the first one scheduling that
GRO's flush ``window_s`` later; ``due`` takes every GRO whose flush time has come and
merges what was held into one message ("3 new complaints: PG-…, PG-…, PG-…. Send MENU
to see them."), or sends a lone one as itself. Taking is one Lua script, so of two
notifiers flushing at once exactly one gets each GRO's digest. A digest whose hand-over
then fails is held again (``restore``) and flushed ``RETRY_S`` later: merged from the same
notifications it has the same event id, so the outbound job's never-twice guard drops it if
it did go out; nothing is lost.

Keys share the ``{digest}`` hash tag (one Redis Cluster slot): ``samvad:{digest}:items``
(a hash: GRO phone -> JSON list of held notifications) and ``samvad:{digest}:due`` (a
sorted set: GRO phone by flush time).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

import orjson
from redis.asyncio import Redis

from bot.i18n import translate
from bot.messages import Outgoing
from bot.notifier import NEW_COMPLAINT, Notification

SHOWN_NUMBERS = 3  # complaint numbers a digest lists (three fit an SMS in every locale)
TAKE_LIMIT = 100  # GROs flushed per call
RETRY_S = 30.0  # a digest that could not be handed over is flushed again this much later

# hold: KEYS = items hash, due set; ARGV = GRO phone, held notification (JSON), flush time.
_HOLD = """
local held = redis.call('HGET', KEYS[1], ARGV[1])
local items = held and cjson.decode(held) or {}
table.insert(items, ARGV[2])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(items))
redis.call('ZADD', KEYS[2], 'NX', ARGV[3], ARGV[1])
return #items
"""

# take: KEYS = items hash, due set; ARGV = now, limit. Returns {phone, items, phone, ...}.
_TAKE = """
local phones = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local found = {}
for _, phone in ipairs(phones) do
  local held = redis.call('HGET', KEYS[1], phone)
  redis.call('HDEL', KEYS[1], phone)
  redis.call('ZREM', KEYS[2], phone)
  if held then
    table.insert(found, phone)
    table.insert(found, held)
  end
end
return found
"""


class GroDigest:
    """Holds GROs' new-complaint notifications and merges them per GRO when due."""

    def __init__(self, redis: Redis, window_s: float,
                 clock: Callable[[], float] = time.time, prefix: str = "samvad:") -> None:
        self.window_s = window_s
        self.clock = clock
        self.keys = [f"{prefix}{{digest}}:items", f"{prefix}{{digest}}:due"]
        self._hold = redis.register_script(_HOLD)
        self._take = redis.register_script(_TAKE)
        self._taken: dict[str, list[dict[str, Any]]] = {}  # the last due(): event id -> items

    async def hold(self, notification: Notification) -> int:
        """Keep ``notification`` for its GRO's digest; the first one held schedules the
        flush. Returns how many that GRO has waiting."""
        item = {"phone": notification.phone, "locale": notification.locale,
                "kind": notification.kind, "text": notification.message.text,
                "event_id": notification.event_id, "case_channel": notification.case_channel,
                "details": list(notification.details) if notification.details else None}
        return await self._keep(item, self.clock() + self.window_s)

    async def _keep(self, item: dict[str, Any], flush_at: float) -> int:
        return int(await self._hold(keys=self.keys,
                                    args=[item["phone"], orjson.dumps(item), flush_at]))

    async def restore(self, digest: Notification) -> None:
        """Hold again what ``digest`` (from the last ``due``) merged: handing it over failed."""
        for item in self._taken.pop(digest.event_id, []):
            await self._keep(item, self.clock() + RETRY_S)

    async def due(self, now: float | None = None) -> list[Notification]:
        """The digests whose time has come, one per GRO, taken so no other notifier sends
        them again."""
        reply = await self._take(keys=self.keys,
                                 args=[self.clock() if now is None else now, TAKE_LIMIT])
        digests, self._taken = [], {}
        for held in reply[1::2]:
            items = [orjson.loads(raw) for raw in orjson.loads(held)]
            digest = _merged(items)
            self._taken[digest.event_id] = items
            digests.append(digest)
        return digests


def _merged(items: list[dict[str, Any]]) -> Notification:
    """One notification for what a GRO had waiting: a lone one as itself, else a digest
    naming the first few complaints (in the GRO's language, of the latest notification)."""
    # One notification held twice (its notifier died before marking it delivered) counts once.
    items = list({item["event_id"]: item for item in items}.values())
    last = items[-1]
    if len(items) == 1:
        details = tuple(last["details"]) if last["details"] else None
        return Notification(last["phone"], last["locale"], last["kind"], Outgoing(last["text"]),
                    last["event_id"], case_channel=last["case_channel"], details=details)
    numbers = list(dict.fromkeys(item["details"][1] for item in items if item["details"]))
    shown = ", ".join(numbers[:SHOWN_NUMBERS]) + (", …" if len(numbers) > SHOWN_NUMBERS else "")
    text = translate(last["locale"], "notify.staff.new_complaints", count=len(items),
                     numbers=shown)
    ids = ",".join(item["event_id"] for item in items)
    event_id = "digest-" + hashlib.sha256(ids.encode()).hexdigest()[:20]
    return Notification(last["phone"], last["locale"], NEW_COMPLAINT, Outgoing(text), event_id)

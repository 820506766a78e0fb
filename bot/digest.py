"""New complaints for a GRO, told in one message when several arrive close together.

A GRO hears of every new complaint of their city and department (``new_complaint``).
When a storm brings ten in five minutes, ten messages are noise (and ten templates'
cost): ``GroDigest.hold`` keeps each in Redis per GRO, the first one scheduling that
GRO's flush ``window_s`` later; ``due`` takes every GRO whose flush time has come and
merges what was held into one message ("3 new complaints: PG-…, PG-…, PG-…. Send MENU
to see them."), or sends a lone one as itself. Taking is one Lua script that leaves the
notifications where they are and moves the GRO's flush ``RETRY_S`` later (a lease), so of
two notifiers flushing at once exactly one gets each GRO's digest; ``settle`` removes
them once the digest was handed over. A digest whose hand-over fails, or whose notifier
died, is simply taken again when the lease ends: merged from the same notifications it
has the same event id, so the outbound job's never-twice guard drops it if it did go out;
nothing is lost.

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

# take: KEYS = items hash, due set; ARGV = now, limit, lease end. Returns {phone, items,
# phone, ...}; each GRO taken is due again at the lease end unless settled before.
_TAKE = """
local phones = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local found = {}
for _, phone in ipairs(phones) do
  local held = redis.call('HGET', KEYS[1], phone)
  if held then
    redis.call('ZADD', KEYS[2], ARGV[3], phone)
    table.insert(found, phone)
    table.insert(found, held)
  else
    redis.call('ZREM', KEYS[2], phone)
  end
end
return found
"""

# settle: KEYS = items hash, due set; ARGV = GRO phone, how many were handed over. Those
# go; any held since stay, due at the lease end already set.
_SETTLE = """
local held = redis.call('HGET', KEYS[1], ARGV[1])
if not held then
  return 0
end
local items, rest = cjson.decode(held), {}
for index = tonumber(ARGV[2]) + 1, #items do
  table.insert(rest, items[index])
end
if #rest == 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(rest))
end
return #rest
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
        self._settle = redis.register_script(_SETTLE)
        # The last due(): (digest event id, GRO phone) -> how many held notifications it
        # merged (GROs told of the same complaints get digests with the same event id).
        self._taken: dict[tuple[str, str], int] = {}

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

    async def settle(self, digest: Notification) -> None:
        """``digest`` (from the last ``due``) was handed over: drop what it merged."""
        count = self._taken.pop((digest.event_id, digest.phone), 0)
        if count:
            await self._settle(keys=self.keys, args=[digest.phone, count])

    async def due(self, now: float | None = None) -> list[Notification]:
        """The digests whose time has come, one per GRO, leased so no other notifier takes
        them before ``RETRY_S`` (``settle`` each once handed over)."""
        now = self.clock() if now is None else now
        reply = await self._take(keys=self.keys, args=[now, TAKE_LIMIT, now + RETRY_S])
        digests, self._taken = [], {}
        for held in reply[1::2]:
            items = [orjson.loads(raw) for raw in orjson.loads(held)]
            digest = _merged(items)
            self._taken[digest.event_id, digest.phone] = len(items)
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

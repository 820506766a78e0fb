"""A reply continues the case: the question a notification asked, until it is answered.

The "resolved" notification asks the citizen "Is it fixed?" with two next actions
(``FIXED`` / ``BROKEN``: WhatsApp buttons, SMS "reply 1 / 2"). When the notifier hands it
over it records a pending follow-up for that phone (``CaseFollowUps.offer``): the channel
is chosen later by the delivery policy, so the record is keyed by the phone alone. The
engine reads it (operation ``case_follow_up``) when the person answers from the main
menu or a fresh conversation, and starts the ``case_reply`` flow for that complaint; a
rating or reopening of the complaint settles it (``settle``). An answer that is neither
leaves it in place until it expires.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.asyncio import Redis

CASE_REPLY_FLOW = "case_reply"
# Option ids of the next actions (also the WhatsApp button payloads), and the answer each is.
FIXED, BROKEN = "case_yes", "case_no"
ANSWERS = {FIXED: "yes", BROKEN: "no"}
FOLLOW_UP_TTL_S = 7 * 24 * 3600  # as long as a resolved complaint waits before auto-close

# Delete the follow-up only when it is still about this complaint (a newer one may have
# replaced it). KEYS = follow-up; ARGV = complaint number. Returns 1 when deleted.
_SETTLE = """
if redis.call('HGET', KEYS[1], 'id') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(frozen=True)
class FollowUp:
    """The complaint a person was asked about, and the language they were asked in."""

    complaint_id: str
    locale: str | None


class CaseFollowUps:
    """Pending "is it fixed?" questions in Redis, one per phone, expiring on their own."""

    def __init__(self, redis: Redis, ttl_s: int = FOLLOW_UP_TTL_S,
                 prefix: str = "samvad:followup:") -> None:
        self.redis = redis
        self.ttl_s = ttl_s
        self.prefix = prefix
        self._settle = redis.register_script(_SETTLE)

    def key(self, phone: str) -> str:
        return f"{self.prefix}{phone}"

    async def offer(self, phone: str, complaint_id: str, locale: str | None) -> None:
        """Remember the question just sent; a newer one replaces it (the latest asked wins,
        as the person reads it last)."""
        key = self.key(phone)
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(key)
        pipe.hset(key, mapping={"id": complaint_id, "locale": locale or ""})
        pipe.expire(key, self.ttl_s)
        await pipe.execute()

    async def pending(self, phone: str) -> FollowUp | None:
        """The question waiting for this phone's answer, if any."""
        found = await self.redis.hgetall(self.key(phone))
        values = {_text(k): _text(v) for k, v in found.items()}
        if not values.get("id"):
            return None
        return FollowUp(values["id"], values.get("locale") or None)

    async def settle(self, phone: str, complaint_id: str) -> bool:
        """Forget the question once the complaint was rated or reopened (from the answer, or
        from Track complaints); True when it was pending."""
        return bool(await self._settle(keys=[self.key(phone)], args=[complaint_id]))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value

"""Messages per second per sender number: a token bucket in Redis shared by all workers."""

from __future__ import annotations

import math

from redis.asyncio import Redis

# reserve(bucket, now ms, rate per s, burst, max wait ms) -> wait ms, or -wait when the
# slot is further away than max wait (nothing taken). A caller whose slot is at most max
# wait away takes it (the bucket goes below zero: the next caller's slot is later still),
# so callers line up instead of all waking at once. Also run inside the send worker's
# drain steps (``_sending``) on one Redis server.
RESERVE_LUA = """
local function reserve(bucket, now, rate, burst, max_wait)
  local state = redis.call('HMGET', bucket, 'tokens', 'at')
  local tokens = tonumber(state[1]) or burst
  local at = tonumber(state[2]) or now
  if now > at then
    tokens = math.min(burst, tokens + (now - at) * rate / 1000)
    at = now
  end
  local wait = 0
  if tokens < 1 then
    wait = math.ceil((1 - tokens) * 1000 / rate)
  end
  if wait > max_wait then
    return -wait
  end
  redis.call('HSET', bucket, 'tokens', tostring(tokens - 1), 'at', tostring(at))
  redis.call('PEXPIRE', bucket, math.ceil(burst * 1000 / rate) + wait + 60000)
  return wait
end
"""

# KEYS bucket; ARGV now ms, rate per s, burst, max wait ms. Returns {granted, wait ms}.
_RESERVE = RESERVE_LUA + """
local wait = reserve(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
                     tonumber(ARGV[4]))
if wait < 0 then
  return {0, -wait}
end
return {1, wait}
"""


def bucket_key(sender: str) -> str:
    """The token bucket of one sender (``<provider>:<number>``)."""
    return f"samvad:rate:{sender}"


class RateLimiter:
    """``rate`` messages per second per sender (0: unlimited), bursts of up to ``burst``."""

    def __init__(self, redis: Redis, rate: float, burst: int | None = None) -> None:
        self.redis = redis
        self.rate = rate
        self.burst = burst or max(1, math.ceil(rate))
        self._reserve = redis.register_script(_RESERVE)

    async def reserve(self, sender: str, now: float, max_wait_s: float) -> tuple[bool, float]:
        """Take the next send slot of ``sender`` if it is at most ``max_wait_s`` away.

        Returns (taken, seconds until the slot). Not taken: ask again after that long.
        """
        if self.rate <= 0:
            return True, 0.0
        granted, wait_ms = await self._reserve(
            keys=[bucket_key(sender)],
            args=[int(now * 1000), self.rate, self.burst, int(max_wait_s * 1000)])
        return bool(granted), int(wait_ms) / 1000

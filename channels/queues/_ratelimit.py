"""Messages per second per sender number: a token bucket in Redis shared by all workers."""

from __future__ import annotations

import math

from redis.asyncio import Redis

# KEYS bucket; ARGV now ms, rate per s, burst, max wait ms. Returns {granted, wait ms}.
# A caller whose slot is at most max wait away takes it (the bucket goes below zero: the
# next caller's slot is later still), so callers line up instead of all waking at once.
_RESERVE = """
local now = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
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
if wait > tonumber(ARGV[4]) then
  return {0, wait}
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - 1), 'at', tostring(at))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + wait + 60000)
return {1, wait}
"""


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
            keys=[f"samvad:rate:{sender}"],
            args=[int(now * 1000), self.rate, self.burst, int(max_wait_s * 1000)])
        return bool(granted), int(wait_ms) / 1000

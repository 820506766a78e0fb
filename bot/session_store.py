"""Conversation sessions in Redis: one lock per conversation, inbound dedupe, two round trips.

A turn is ``begin`` -> (the engine runs) -> ``commit`` (or ``release`` when it failed)::

    turn = await store.begin(key, inbound.message_id)      # 1 round trip
    if turn.duplicate:
        return                                             # seen and committed before
    try:
        new_state = await run_engine(turn.data, inbound)
    except Exception:
        await store.release(key, turn.token, inbound.message_id)  # a retry may try again
        raise
    await store.commit(key, turn.token, new_state, inbound.message_id)  # 1 round trip

Keys of one conversation share a Redis Cluster hash tag, so each Lua script touches one
slot (``samvad:{whatsapp:+919876500001}:session``, ``...:lock``, ``...:msg:<id>``). On one
Redis server the inbound worker saves both round trips: its mailbox's open step runs
``BEGIN_LUA`` (``begin_args``, ``begun``), and its next step rides in the commit's
pipeline (``commit(along=)``).

Dedupe means "seen and committed". ``begin`` marks the message id ``processing``;
``commit`` turns that into ``done`` (kept ``dedupe_ttl_s``); ``release`` deletes it so a
provider retry processes the message again. A ``processing`` mark is not a duplicate:
the conversation lock already keeps a retry out while the first attempt runs, and when
the first attempt's worker died (its lease ran out) the retry must be able to proceed.
So nothing is lost, and a message is processed twice only when a worker outlives its
lease — its ``commit`` then returns False and writes nothing.

``commit`` also keeps the turn's replies beside the ``done`` mark (``...:msg:<id>:out``,
for ``replies_ttl_s``): a worker that died after the commit but before it queued them
leaves the message at the head of its mailbox, and the worker that takes over finds it
``done`` and queues the kept replies again (``answered``) instead of losing them.

The lock's lease is short (the mailbox lease, ``SAMVAD_MAILBOX_LEASE_S``) and renewed
while the turn runs (``held``), so a dead worker's conversation is free again as soon as
its mailbox is taken over, and a slow turn keeps its lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, cast

import structlog
from redis.asyncio import Redis, RedisCluster
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

__all__ = ["Along", "Begin", "SessionBusy", "SessionKeys", "SessionStore", "conversation_key"]

log = structlog.get_logger(__name__)

# session_begin(session, lock, message mark or nil, token, lease ms, dedupe ttl ms).
# Returns {0} duplicate, {1, session-or-nil} lock taken, {2} locked by another turn.
# Also run inside the inbound mailbox's open step (``channels.queues``, one server).
BEGIN_LUA = """
local function session_begin(session, lock, mark, token, lease_ms, dedupe_ms)
  if mark and redis.call('GET', mark) == 'done' then
    return {0}
  end
  if not redis.call('SET', lock, token, 'NX', 'PX', lease_ms) then
    return {2}
  end
  if mark then
    redis.call('SET', mark, 'processing', 'PX', dedupe_ms)
  end
  return {1, redis.call('GET', session)}
end
"""

# begin: KEYS = session, lock[, message mark]; ARGV = token, lease ms, dedupe ttl ms.
_BEGIN = BEGIN_LUA + """
return session_begin(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3])
"""

# commit: KEYS = session, lock[, message mark[, kept replies]];
# ARGV = token, '1' save / '0' delete, data, ttl ms, dedupe ttl ms, SHA-1 of the session
# the turn began with ('' when unknown)[, replies, replies ttl ms]. Returns 1, or 0 if the
# lease was lost (nothing written). A lease that ran out unnoticed (the process stalled
# past it: CPU starvation, a long pause) still commits when nothing happened meanwhile: no
# other turn holds the lock, none changed the session, and this message was not done by
# another run of it.
_COMMIT = """
local holder = redis.call('GET', KEYS[2])
if holder ~= ARGV[1] then
  if holder or ARGV[6] == '' or redis.sha1hex(redis.call('GET', KEYS[1]) or '') ~= ARGV[6]
      or (KEYS[3] and redis.call('GET', KEYS[3]) == 'done') then
    return 0
  end
end
if ARGV[2] == '1' then
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
else
  redis.call('DEL', KEYS[1])
end
if KEYS[3] then
  redis.call('SET', KEYS[3], 'done', 'PX', ARGV[5])
end
if KEYS[4] then
  redis.call('SET', KEYS[4], ARGV[7], 'PX', ARGV[8])
end
redis.call('DEL', KEYS[2])
return 1
"""

# renew: KEYS = lock; ARGV = token, lease ms. Returns 1, or 0 if not the holder.
_RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

# release: KEYS = lock[, message mark]; ARGV = token. Returns 1, or 0 if not the holder.
_RELEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
if KEYS[2] and redis.call('GET', KEYS[2]) == 'processing' then
  redis.call('DEL', KEYS[2])
end
return 1
"""

_DUPLICATE, _ACQUIRED, _LOCKED = 0, 1, 2
_FIRST_PAUSE_S = 0.01
_MAX_PAUSE_S = 0.2


def _digest(began: Begin | None) -> str:
    """The SHA-1 (hex) of the session a turn began with, as Lua's ``redis.sha1hex`` writes
    it ('' without a ``begin``: a lapsed lease then never commits)."""
    if began is None:
        return ""
    return hashlib.sha1(began.data or b"", usedforsecurity=False).hexdigest()


def conversation_key(channel: str, sender: str) -> str:
    """The session key of one person on one channel, e.g. ``whatsapp:+919876500001``."""
    return f"{channel}:{sender}"


def _masked(key: str) -> str:
    """The key with all but the last four digits of a number hidden, for messages and logs."""
    return re.sub(r"\d(?=\d{4})", "*", key)


class SessionBusy(Exception):
    """Another turn of this conversation held the lock for longer than the wait bound."""

    def __init__(self, key: str, waited_s: float) -> None:
        super().__init__(f"conversation {_masked(key)} is busy; gave up after {waited_s:.1f} s")
        self.key = key
        self.waited_s = waited_s


@dataclass(frozen=True)
class Begin:
    """The start of a turn: a duplicate (nothing to do), or the lock token and stored session."""

    duplicate: bool
    token: str | None = None
    data: bytes | None = None


class Along(Protocol):
    """Commands a caller sends in the commit's round trip, after it (``commit(along=)``):
    on one Redis server one pipeline carries the commit, then them, in that order."""

    def queue(self, pipe: Pipeline) -> None:
        """Add the commands to ``pipe`` (after the commit)."""

    def took(self, results: list[Any]) -> None:
        """Their replies, in order (called only when they were sent)."""


class SessionKeys(NamedTuple):
    """The Redis keys of one conversation (all in one cluster slot)."""

    session: str
    lock: str
    message_prefix: str

    def message(self, message_id: str) -> str:
        """The dedupe mark of one provider message id."""
        return self.message_prefix + message_id

    def replies(self, message_id: str) -> str:
        """The replies of the committed turn of one provider message id."""
        return self.message_prefix + message_id + ":out"


class SessionStore:
    """Sessions as opaque bytes with a TTL, a leased lock per conversation and dedupe."""

    def __init__(
        self,
        redis: Redis,
        *,
        ttl_s: int = 7 * 24 * 3600,
        lease_ms: int = 5_000,
        wait_s: float = 6.0,
        dedupe_ttl_s: int = 24 * 3600,
        replies_ttl_s: int = 3600,
        prefix: str = "samvad:",
    ) -> None:
        """``wait_s`` is how long ``begin`` waits for a held lock: a little over a lease,
        so a dead holder's lock has run out before the wait ends."""
        if redis.get_encoder().decode_responses:
            raise ValueError("SessionStore needs a Redis client with decode_responses=False")
        if ttl_s <= 0 or lease_ms <= 0 or dedupe_ttl_s <= 0 or wait_s < 0:
            raise ValueError("ttl_s, lease_ms and dedupe_ttl_s must be positive, wait_s >= 0")
        self.redis = redis
        self.ttl_s = ttl_s
        self.lease_ms = lease_ms
        self.wait_s = wait_s
        self.dedupe_ttl_s = dedupe_ttl_s
        self.replies_ttl_s = replies_ttl_s
        self.prefix = prefix
        # Script objects run EVALSHA and fall back to SCRIPT LOAD on NOSCRIPT (first use,
        # a Redis restart or SCRIPT FLUSH): two extra round trips, once per script.
        self._begin = redis.register_script(_BEGIN)
        self._commit = redis.register_script(_COMMIT)
        self._release = redis.register_script(_RELEASE)
        self._renew = redis.register_script(_RENEW)
        # One server: a script may touch keys of other hash tags and a pipeline runs in
        # order (``begin_args``, ``commit(along=)``); not on a Redis Cluster.
        self.one_server = not isinstance(redis, RedisCluster)

    async def load_scripts(self) -> None:
        """Load the Lua scripts in one round trip (at worker start), so no turn pays for it.

        Without it each script is loaded on its first NOSCRIPT reply instead. A Redis
        Cluster client refuses SCRIPT LOAD in a pipeline; there each load is one command
        that the client sends to every primary.
        """
        scripts = (self._begin, self._commit, self._release, self._renew)
        if isinstance(self.redis, RedisCluster):
            for script in scripts:
                await self.redis.script_load(script.script)
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for script in scripts:
                pipe.script_load(script.script)
            await pipe.execute()

    def keys(self, key: str) -> SessionKeys:
        """The Redis keys used for conversation ``key``."""
        if not key:
            raise ValueError("empty conversation key")
        base = f"{self.prefix}{{{key}}}:"
        return SessionKeys(base + "session", base + "lock", base + "msg:")

    def _script_keys(self, key: str, message_id: str | None) -> list[str]:
        k = self.keys(key)
        names = [k.session, k.lock]
        if message_id:
            names.append(k.message(message_id))
        return names

    async def begin(self, key: str, message_id: str | None) -> Begin:
        """Dedupe, lock and load in one round trip; wait (bounded) while another turn runs.

        Returns ``Begin(duplicate=True)`` without taking the lock when ``message_id`` was
        already committed. Raises ``SessionBusy`` after ``wait_s`` of waiting.
        """
        names = self._script_keys(key, message_id)
        token = secrets.token_hex(16)
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + self.wait_s
        pause = _FIRST_PAUSE_S
        while True:
            reply = await self._begin(
                keys=names, args=[token, self.lease_ms, self.dedupe_ttl_s * 1000]
            )
            status = int(reply[0])
            if status == _DUPLICATE:
                return Begin(duplicate=True)
            if status == _ACQUIRED:
                data = reply[1] if len(reply) > 1 else None
                return Begin(duplicate=False, token=token, data=data)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise SessionBusy(key, loop.time() - started)
            await self._backoff(min(pause, remaining))
            pause = min(pause * 2, _MAX_PAUSE_S)

    def begin_args(self, key: str, token: str) -> list[str | int]:
        """What ``BEGIN_LUA`` needs to begin a turn of ``key`` inside another script (one
        server only: the keys are in the session's slot): session, lock, the message marks'
        prefix, ``token``, lease ms, dedupe ttl ms."""
        k = self.keys(key)
        return [k.session, k.lock, k.message_prefix, token, self.lease_ms,
                self.dedupe_ttl_s * 1000]

    @staticmethod
    def begun(reply: list[Any], token: str) -> Begin | None:
        """The ``Begin`` of a ``BEGIN_LUA`` reply run with ``token`` (None: locked by
        another turn; ``begin`` waits for it)."""
        status = int(reply[0])
        if status == _DUPLICATE:
            return Begin(duplicate=True)
        if status == _ACQUIRED:
            return Begin(duplicate=False, token=token, data=reply[1] if len(reply) > 1 else None)
        return None

    async def _backoff(self, delay_s: float) -> None:
        """Pause between lock attempts (tests override it to observe waiting)."""
        await asyncio.sleep(delay_s)

    async def commit(
        self,
        key: str,
        token: str,
        data: bytes | None,
        message_id: str | None = None,
        *,
        ttl_s: int | None = None,
        replies: bytes | None = None,
        along: Along | None = None,
        began: Begin | None = None,
    ) -> bool:
        """Save (``data=None`` deletes the session), mark the message done, keep its
        ``replies`` (for ``answered``) and unlock.

        One round trip, with the caller's ``along`` commands on one server (on a Redis
        Cluster they are not sent: ``along.took`` is not called). Returns False and writes
        nothing when ``token`` no longer holds the lock (the lease ran out and another
        turn may have taken over); ``along`` is sent all the same. With ``began`` (the
        turn's ``begin``) a lease that ran out while nothing else happened still commits
        (see ``_COMMIT``).
        """
        ttl_ms = (ttl_s if ttl_s is not None else self.ttl_s) * 1000
        if ttl_ms <= 0:
            raise ValueError("ttl_s must be positive")
        keys = self._script_keys(key, message_id)
        args: list[str | bytes | int] = [token, "0" if data is None else "1", data or b"",
                                         ttl_ms, self.dedupe_ttl_s * 1000, _digest(began)]
        if message_id and replies is not None:
            keys.append(self.keys(key).replies(message_id))
            args += [replies, self.replies_ttl_s * 1000]
        if along is None or not self.one_server:
            return bool(await self._commit(keys=keys, args=args))
        # EVAL, not EVALSHA: a script missing from the server (a restart) must not fail
        # the commit halfway through a pipeline whose other commands still run.
        pipe = self.redis.pipeline(transaction=False)
        pipe.eval(cast("str", self._commit.script), len(keys), *keys, *args)
        along.queue(pipe)
        committed, *results = await pipe.execute()
        along.took(results)
        return bool(committed)

    async def answered(self, key: str, message_id: str) -> bytes | None:
        """The replies ``commit`` kept for ``message_id`` (None: none kept, or expired)."""
        return await self._get(self.keys(key).replies(message_id))

    async def saved(self, key: str) -> bytes | None:
        """The session last committed for ``key`` (None: none, or erased)."""
        return await self._get(self.keys(key).session)

    async def _get(self, name: str) -> bytes | None:
        # redis-py types a reply as bytes or str; this client answers bytes (__init__).
        return cast("bytes | None", await self.redis.get(name))

    @contextlib.asynccontextmanager
    async def held(self, key: str, token: str) -> AsyncIterator[None]:
        """Renew the lock every third of a lease while the block (the turn) runs."""
        beating = asyncio.create_task(self._beat(self.keys(key).lock, token))
        try:
            yield
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating

    async def _beat(self, lock: str, token: str) -> None:
        while True:
            await asyncio.sleep(self.lease_ms / 3000)
            try:
                if not await self._renew(keys=[lock], args=[token, self.lease_ms]):
                    return  # lost: the commit will say so and write nothing
            except RedisError as exc:  # the next beat tries again; the lease may hold
                log.warning("session_lock_renewal_failed", error=str(exc))

    async def release(self, key: str, token: str, message_id: str | None = None) -> bool:
        """Unlock without saving and forget ``message_id`` so a retry can process it.

        One round trip. Returns False when ``token`` no longer held the lock.
        """
        k = self.keys(key)
        names = [k.lock] + ([k.message(message_id)] if message_id else [])
        return bool(await self._release(keys=names, args=[token]))

    async def delete(self, key: str) -> None:
        """Erase the stored session ("start over", erasure request); the lock is untouched.

        A turn running at that moment may still commit its new state afterwards.
        """
        await self.redis.delete(self.keys(key).session)

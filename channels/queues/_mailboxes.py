"""Ordered per-person mailboxes on Redis: the ordering guarantee behind both queues.

A message for key K (one person on one channel) is appended to K's list, and a doorbell
naming K is added to a stream read through a consumer group. The worker that answers a
doorbell takes K's lock (a lease) and works through K's list from the head, removing a
message only after it is handled. It lets go of the lock only when the list is empty —
atomically, so a message added meanwhile is never left behind — or after it scheduled a
later doorbell for K (a retry or a rate-limit wait) in a sorted set of due rings. A
doorbell that finds K locked schedules a ring for when the lease ends, in case the holder
died; a doorbell whose worker died stays pending and is reclaimed (XAUTOCLAIM).

Leases are short (``SAMVAD_MAILBOX_LEASE_S``, 5 s by default) and renewed by a heartbeat
every third of a lease while a worker drains the mailbox (``heartbeat``), so a slow turn
keeps its mailbox and a dead worker's mailboxes are free again one lease after it died.
A renewal that finds the lease lost stops the drain after the message in hand: the next
step (``advance``, ``put_back``) checks the lock in the same script that changes the list.

Each step of a drain is one script (``open``, ``next``: take the lock or move on, read the
head), with the queue's own Lua run inside it (``hooked``: the inbound queue begins the
session, the send worker notes a job sent and begins the next); on one server the step
that finds the mailbox empty also acknowledges the doorbell, and a step may ride in
another drain's pipeline (``queue_step``: the inbound turn's end opens its replies'
mailbox, with a ring scheduled for the lease's end instead of a doorbell, removed by the
step that empties it). So a mailbox costs one round trip per message, plus the
doorbell's read.

So one person's messages are handled in the order they were added, by one worker at a
time, however many workers read the stream; different people proceed in parallel.
Keys of one mailbox share a Redis Cluster hash tag, so every script touches one slot::

    samvad:{inbound:whatsapp:+919876500001}:mailbox   list of messages, oldest first
    samvad:{inbound:whatsapp:+919876500001}:lock      lease of the worker draining it
    samvad:inbound                                    doorbell stream (field "key")
    samvad:inbound:due                                zset: key -> when to ring again (ms)
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal, cast

import structlog
from redis.asyncio import Redis, RedisCluster
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError, ResponseError

log = structlog.get_logger(__name__)

DEFAULT_LEASE_MS = 5_000

# redis-py types each reply for every protocol and decode setting (bytes or str, RESP3
# maps); Mailboxes talk RESP2 and get bytes (__init__ checks), the shapes cast below.
_Entry = tuple[bytes, dict[bytes, bytes] | None]

# One step of a drain, ``open`` (take the lock and the head) or ``next`` (drop the handled
# head, take the next one), with a queue's hooks run in the same script (``hooked``):
# ``finish(prefix)`` before the head is dropped (even when the lock was lost: e.g. a job's
# "sent" mark), ``on_head(prefix, head)`` on the head taken (its value is returned third).
# ``prefix`` is the mailbox's hash tag prefix (``samvad:{outbound:sms:+91...}:``): keys
# made from it are in the mailbox's cluster slot.
# KEYS mailbox, lock[, one server only: the doorbell stream, or the due rings ('unring')].
# ARGV owner, lease ms, 'open' or 'next', doorbell entry id ('' none; 'unring': the
# mailbox's key), 'ack' (a doorbell read from the group) or 'unring' (the mailbox was
# opened in another drain's pipeline with a ring scheduled in case that drain dies:
# removed), group, then the hooks' arguments (ARGV[7]...).
# {0, pttl} busy (open) or lost (next, pttl -1); {1} empty (lock released, the doorbell
# acknowledged or the ring removed when KEYS[3] was given); {2, head, hook's value}
# holding the lock.
_STEP = """
local prefix = string.sub(KEYS[1], 1, -8)
local opening = ARGV[3] == 'open'
-- hooks
if opening then
  if redis.call('EXISTS', KEYS[2]) == 1 then
    return {0, redis.call('PTTL', KEYS[2])}
  end
else
  finish(prefix)
  if redis.call('GET', KEYS[2]) ~= ARGV[1] then
    return {0, -1}
  end
  redis.call('LPOP', KEYS[1])
end
local head = redis.call('LINDEX', KEYS[1], 0)
if not head then
  if not opening then
    redis.call('DEL', KEYS[2])
  end
  if KEYS[3] and ARGV[4] ~= '' then
    if ARGV[5] == 'unring' then
      redis.call('ZREM', KEYS[3], ARGV[4])
    else
      redis.call('XACK', KEYS[3], ARGV[6], ARGV[4])
    end
  end
  return {1}
end
if opening then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
else
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
return {2, head, on_head(prefix, head)}
"""

NO_HOOKS = """
local function finish(prefix) end
local function on_head(prefix, head) return false end
"""

# Replace the head (attempt count, due time) and release. ARGV owner, new head.
_PUT_BACK = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return 0
end
if redis.call('LLEN', KEYS[1]) > 0 then
  redis.call('LSET', KEYS[1], 0, ARGV[2])
end
redis.call('DEL', KEYS[2])
return 1
"""

# KEYS lock; ARGV owner, lease ms ('' releases).
_RENEW_OR_RELEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
"""


@dataclass(frozen=True)
class Doorbell:
    """One stream entry: "the mailbox of ``key`` may have work"."""

    entry_id: bytes
    key: str


@dataclass
class Lease:
    """The lock a drain holds right now (``key``, ``owner``), as its heartbeat sees it, and
    the doorbell the drain answers (``bell``: acknowledged, or deleted, by the step that
    finds the mailbox empty, on one server, which sets ``acked``)."""

    key: str | None = None
    owner: str | None = None
    bell: bytes | None = None
    # The mailbox was opened in another drain's pipeline, with a ring scheduled for the
    # lease's end instead of a doorbell (``queue_add(ring_at=)``): removed when emptied.
    unring: bool = False
    acked: bool = False
    # The mailbox whose lock the drain found gone (a stall past the lease): the drain
    # stopped, maybe with messages left and nobody holding it; ``Mailboxes.after_loss``.
    lost: str | None = None

    def let_go(self, key: str, owner: str) -> None:
        if (self.key, self.owner) == (key, owner):
            self.key = self.owner = None

    def lose(self, key: str, owner: str) -> None:
        """The lock of ``key`` was found gone or taken: let go of it, remember the loss."""
        self.let_go(key, owner)
        self.lost = key


# The lease of the drain running in this task. A context variable, so that ``open`` and
# the steps after it tell the drain's heartbeat which lock to renew without every queue's
# ``drain`` passing the owner token around; each drain runs in its own task.
_LEASE: ContextVar[Lease | None] = ContextVar("mailbox_lease", default=None)


@dataclass(frozen=True)
class Opened:
    """What a step of a drain found: the lock ``busy`` (held by someone else; ``next``:
    ``lost``), the mailbox ``empty`` (released), or ``open`` with ``head`` in hand and the
    value of the queue's ``on_head`` hook (``hooked``)."""

    state: Literal["busy", "empty", "open", "lost"]
    head: bytes | None = None
    busy_ms: int = 0  # how long the current holder's lease still runs
    hooked: Any = None


@dataclass(frozen=True)
class Hook:
    """A queue's own Lua run inside each step of a drain (``Mailboxes.hooked``), with the
    arguments of this step."""

    script: AsyncScript
    args: list[bytes | str | int | float]


@dataclass(frozen=True)
class QueueKeys:
    """The Redis names shared by all mailboxes of one queue: where doorbells ring
    (``stream``), the rings scheduled for later (``due``) and the workers' consumer group."""

    stream: str
    due: str
    group: str


def queue_keys(name: str) -> QueueKeys:
    """The doorbell stream, due set and worker group of queue ``name`` ("inbound",
    "outbound"): the one definition, read also by the queue-depth figures of ``/metrics``."""
    return QueueKeys(f"samvad:{name}", f"samvad:{name}:due", f"{name}-workers")


class Mailboxes:
    """Ordered mailboxes named ``name`` ("inbound", "outbound")."""

    def __init__(self, redis: Redis, name: str, *, lease_ms: int = DEFAULT_LEASE_MS,
                 reclaim_idle_ms: int | None = None, ttl_s: int = 7 * 24 * 3600,
                 stream_max_len: int = 1_000_000) -> None:
        """``reclaim_idle_ms`` (default: one lease) is how long a doorbell may stay unacked
        before another worker claims it: a claimed doorbell whose holder is alive finds the
        mailbox busy and only schedules a ring for the lease's end."""
        if redis.get_encoder().decode_responses:
            raise ValueError("Mailboxes need a Redis client with decode_responses=False")
        self.redis = redis
        self.name = name
        names = queue_keys(name)
        self.stream, self.due, self.group = names.stream, names.due, names.group
        self.lease_ms = lease_ms
        self.reclaim_idle_ms = lease_ms if reclaim_idle_ms is None else reclaim_idle_ms
        self.ttl_s = ttl_s
        self.stream_max_len = stream_max_len
        self._step = self.hooked(NO_HOOKS)
        self._put_back = redis.register_script(_PUT_BACK)
        self._renew = redis.register_script(_RENEW_OR_RELEASE)
        self._group_ready = False
        self._next_reclaim = 0.0
        # One server (not a Redis Cluster): one script may touch every key (the doorbell
        # stream too), and one pipeline's commands run in the order given.
        self.one_server = not isinstance(redis, RedisCluster)

    def prefix(self, key: str) -> str:
        """The start of every name under ``key``'s hash tag (``samvad:{outbound:<key>}:``)."""
        return f"samvad:{{{self.name}:{key}}}:"

    def keys(self, key: str) -> tuple[str, str]:
        """The mailbox list and lock of ``key``."""
        base = self.prefix(key)
        return base + "mailbox", base + "lock"

    async def add(self, payloads: dict[str, list[bytes]]) -> None:
        """Queue each key's payloads, then ring each key's doorbell once.

        The doorbells come after the mailboxes, so a worker that reads one finds its
        messages, and a process dying in between leaves messages without a ring (the
        caller's retry rings them), never a ring before its messages. One Redis server
        runs a pipeline in order: one round trip. A Redis Cluster client sends the
        commands for different nodes in parallel, so there the doorbells go second.
        """
        pipe = self.redis.pipeline(transaction=False)
        if self.one_server:
            self.queue_add(pipe, payloads)
            await pipe.execute()
            return
        for key, items in payloads.items():
            mailbox, _lock = self.keys(key)
            pipe.rpush(mailbox, *items)
            pipe.expire(mailbox, self.ttl_s)
        await pipe.execute()
        pipe = self.redis.pipeline(transaction=False)
        self._ring(pipe, *payloads)
        await pipe.execute()

    def queue_add(self, pipe: Pipeline, payloads: dict[str, list[bytes]], *,
                  ring_at: float | None = None) -> int:
        """``add`` inside ``pipe`` (one server only: it runs in order); returns how many
        commands it added, the last ones the doorbells' XADDs (each key's entry id).

        ``ring_at`` (unix s): no doorbell now, a ring scheduled at that time instead, for
        mailboxes the same pipeline opens for a drain of the caller's (``queue_step``,
        ``Lease.unring``): no other worker reads a doorbell only to find them busy, and
        should the caller die, the ring comes when its lease has run out."""
        if not self.one_server:
            raise RuntimeError("queue_add needs one Redis server (a pipeline in order)")
        for key, items in payloads.items():
            mailbox, _lock = self.keys(key)
            pipe.rpush(mailbox, *items)
            pipe.expire(mailbox, self.ttl_s)
        if ring_at is None:
            self._ring(pipe, *payloads)
        else:
            pipe.zadd(self.due, {key: math.ceil(ring_at * 1000) for key in payloads}, lt=True)
            return 2 * len(payloads) + 1
        return 3 * len(payloads)

    async def ring(self, key: str) -> None:
        """A doorbell for ``key``'s mailbox (its messages were queued before)."""
        await self.redis.xadd(self.stream, {"key": key}, maxlen=self.stream_max_len,
                              approximate=True)

    def _ring(self, pipe: Pipeline, *keys: str) -> None:
        for key in keys:
            pipe.xadd(self.stream, {"key": key}, maxlen=self.stream_max_len, approximate=True)

    async def waiting(self, key: str) -> list[bytes]:
        """Everything in ``key``'s mailbox, head first."""
        return cast("list[bytes]", await self.redis.lrange(self.keys(key)[0], 0, -1))

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def read(self, consumer: str, count: int, block_ms: int | None) -> list[Doorbell]:
        """Doorbells of dead consumers (idle past ``reclaim_idle_ms``), then new ones."""
        try:
            return await self._read(consumer, count, block_ms)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # Redis lost the stream and its group (restarted without persistence): make
            # them again, or every later read fails the same way until a restart.
            self._group_ready = False
            return await self._read(consumer, count, block_ms)

    async def _read(self, consumer: str, count: int, block_ms: int | None) -> list[Doorbell]:
        await self._ensure_group()
        entries: list[_Entry] = []
        if time.monotonic() >= self._next_reclaim:
            self._next_reclaim = time.monotonic() + min(5.0, self.reclaim_idle_ms / 4000)
            _cursor, claimed, *_ = await self.redis.xautoclaim(
                self.stream, self.group, consumer, min_idle_time=self.reclaim_idle_ms,
                start_id="0-0", count=count)
            entries.extend(claimed)
        if len(entries) < count:
            fresh = cast("list[tuple[bytes, list[_Entry]]] | None", await self.redis.xreadgroup(
                self.group, consumer, {self.stream: ">"}, count=count - len(entries),
                block=None if entries else block_ms))
            for _stream, messages in fresh or []:
                entries.extend(messages)
        bells, trimmed = [], []
        for entry_id, fields in entries:
            if fields and b"key" in fields:
                bells.append(Doorbell(entry_id, fields[b"key"].decode()))
            else:
                trimmed.append(entry_id)  # trimmed from the stream: nothing to ring
        if trimmed:
            await self.ack(*trimmed)
        return bells

    async def ack(self, *entry_ids: bytes) -> None:
        await self.redis.xack(self.stream, self.group, *entry_ids)

    def hooked(self, hooks: str) -> AsyncScript:
        """The step script with a queue's hooks: Lua defining ``finish(prefix)`` and
        ``on_head(prefix, head)`` (see ``_STEP``), for ``open`` and ``next``."""
        return self.redis.register_script(_STEP.replace("-- hooks", hooks))

    async def open(self, key: str, owner: str, hook: Hook | None = None) -> Opened:
        """Take ``key``'s lock and its head, unless someone holds it or it is empty."""
        return await self._run_step(key, owner, "open", hook)

    async def next(self, key: str, owner: str, hook: Hook | None = None) -> Opened:
        """Drop the handled head and take the next (``empty``: released; ``lost``)."""
        return await self._run_step(key, owner, "next", hook)

    async def advance(self, key: str, owner: str) -> bytes | None:
        """Drop the handled head and return the next (None: empty and released, or lost)."""
        return (await self.next(key, owner)).head

    async def _run_step(self, key: str, owner: str, mode: Literal["open", "next"],
                        hook: Hook | None) -> Opened:
        lease = _LEASE.get()
        script, keys, args, bell = self._step_call(key, owner, mode, hook, lease)
        return self._took(await script(keys=keys, args=args), key, owner, mode, bell, lease)

    def queue_step(self, pipe: Pipeline, key: str, owner: str, mode: Literal["open", "next"],
                   hook: Hook | None = None, *, lease: Lease | None = None,
                   ) -> Callable[[Any], Opened]:
        """Add a step to ``pipe`` (as EVAL: a script missing from the server must not
        fail one command of a pipeline whose others run); call what it returns with the
        step's reply. ``lease``: the one to note the lock in (default: this drain's)."""
        lease = lease or _LEASE.get()
        script, keys, args, bell = self._step_call(key, owner, mode, hook, lease)
        pipe.eval(cast("str", script.script), len(keys), *keys, *args)  # registered a str
        return lambda reply: self._took(reply, key, owner, mode, bell, lease)

    def _step_call(self, key: str, owner: str, mode: Literal["open", "next"],
                   hook: Hook | None, lease: Lease | None,
                   ) -> tuple[AsyncScript, list[str], list[bytes | str | int | float],
                              bytes | str]:
        """The script, keys and arguments of a step. On one server the step that finds
        the mailbox empty also acknowledges the drain's doorbell (or removes the ring
        scheduled in its stead: ``Lease.unring``)."""
        unring = lease is not None and lease.unring
        bell: bytes | str = b""
        if unring:
            bell = key
        elif lease is not None and lease.bell and not lease.acked:
            bell = lease.bell
        keys = list(self.keys(key))
        if self.one_server:
            keys.append(self.due if unring else self.stream)
        args: list[bytes | str | int | float] = [owner, self.lease_ms, mode, bell,
                                                 "unring" if unring else "ack", self.group]
        if hook is None:
            return self._step, keys, args, bell
        return hook.script, keys, args + hook.args, bell

    def _took(self, reply: Any, key: str, owner: str, mode: Literal["open", "next"],
              bell: bytes | str, lease: Lease | None) -> Opened:
        state = int(reply[0])
        if state == 2:
            if lease is not None:
                lease.key, lease.owner = key, owner
            return Opened("open", head=reply[1], hooked=reply[2] if len(reply) > 2 else None)
        if mode == "next" and lease is not None:
            if state == 1:
                lease.let_go(key, owner)
            else:
                lease.lose(key, owner)
        if state == 1:
            if lease is not None and bell and self.one_server:
                lease.acked = True
            return Opened("empty")
        if mode == "next":
            return Opened("lost")
        return Opened("busy", busy_ms=max(int(reply[1]), 0))

    async def put_back(self, key: str, owner: str, head: bytes) -> bool:
        """Replace the head (e.g. with its attempt count) and release the lock."""
        self._let_go(key, owner)
        return bool(await self._put_back(keys=list(self.keys(key)), args=[owner, head]))

    async def renew(self, key: str, owner: str) -> bool:
        """Extend the lease (the heartbeat; before a send); False when it was lost."""
        kept = bool(await self._renew(keys=[self.keys(key)[1]], args=[owner, self.lease_ms]))
        if not kept:
            lease = _LEASE.get()
            if lease is not None:
                lease.lose(key, owner)
        return kept

    async def release(self, key: str, owner: str) -> bool:
        """Let go of the lock, leaving the mailbox as it is (ring it later first)."""
        self._let_go(key, owner)
        return bool(await self._renew(keys=[self.keys(key)[1]], args=[owner, ""]))

    @staticmethod
    def _let_go(key: str, owner: str) -> None:
        lease = _LEASE.get()
        if lease is not None:
            lease.let_go(key, owner)

    @contextlib.asynccontextmanager
    async def heartbeat(self, lease: Lease | None = None) -> AsyncIterator[Lease]:
        """Renew the lease the drain inside this block holds, every third of a lease
        (``lease``: one taken already, by a step sent in another drain's pipeline)."""
        lease = lease or Lease()
        token = _LEASE.set(lease)
        beating = asyncio.create_task(self._beat(lease))
        try:
            yield lease
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating
            _LEASE.reset(token)

    async def _beat(self, lease: Lease) -> None:
        """Real time on purpose: the lease runs out in Redis's clock, not a test's."""
        while True:
            await asyncio.sleep(self.lease_ms / 3000)
            key, owner = lease.key, lease.owner
            if key is None or owner is None:
                continue
            try:
                kept = await self._renew(keys=[self.keys(key)[1]], args=[owner, self.lease_ms])
            except RedisError as exc:  # the next beat tries again; the lease may still hold
                log.warning("mailbox_lease_renewal_failed", queue=self.name, error=str(exc))
                continue
            # Lost, unless the drain let go of it meanwhile (emptied the mailbox): the
            # drain stops after the message in hand (its next step checks the lock).
            if not kept and (lease.key, lease.owner) == (key, owner):
                lease.lose(key, owner)
                log.warning("mailbox_lease_lost", queue=self.name)

    async def after_loss(self, lease: Lease, now: float) -> None:
        """Ring the mailbox whose lock a drain lost, at ``now`` (the worker's clock): its
        lease may have run out with nobody taking it over (the drain stalled, nothing else
        rang), which would leave its messages unread until the person's next message. A
        holder that took it over makes the ring find the mailbox busy (rung again at that
        lease's end) or empty: harmless."""
        if lease.lost is not None:
            await self.ring_at(lease.lost, now)

    async def ring_at(self, key: str, at: float) -> None:
        """Ring ``key`` at unix time ``at`` (an earlier ring already scheduled stays)."""
        # Rounded up: a ring never comes before the time it was asked for.
        await self.redis.zadd(self.due, {key: math.ceil(at * 1000)}, lt=True)

    async def next_ring(self) -> float | None:
        """When the earliest scheduled ring is due (unix seconds), if any."""
        first = cast("list[tuple[bytes, float]]",
                     await self.redis.zrange(self.due, 0, 0, withscores=True))
        return first[0][1] / 1000 if first else None

    async def ring_due(self, now: float, limit: int = 500) -> int:
        """Turn the rings due at ``now`` into doorbells; return how many."""
        due = cast("list[bytes]", await self.redis.zrangebyscore(
            self.due, "-inf", int(now * 1000), start=0, num=limit))
        if not due:
            return 0
        # Doorbells first: a crash in between rings twice, never zero times (in two steps
        # on a cluster, where one pipeline's commands to different nodes run in parallel).
        pipe = self.redis.pipeline(transaction=False)
        self._ring(pipe, *(key.decode() for key in due))
        if not self.one_server:
            await pipe.execute()
            pipe = self.redis.pipeline(transaction=False)
        pipe.zrem(self.due, *due)
        await pipe.execute()
        return len(due)

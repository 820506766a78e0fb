"""The loop both queue workers share: read doorbells, drain mailboxes in parallel, ack."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Awaitable, Callable

import structlog
from redis.exceptions import RedisError

from channels.queues._clock import Clock, SystemClock
from channels.queues._mailboxes import Doorbell, Mailboxes

log = structlog.get_logger(__name__)

RING_CHECK_S = 0.25  # how often a running worker turns due rings into doorbells
READ_BLOCK_MS = 500


def consumer_name(prefix: str) -> str:
    """A consumer name unique to this process and worker."""
    return f"{prefix}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class MailboxWorker:
    """Answers doorbells of ``boxes``; subclasses say how to drain one mailbox."""

    def __init__(self, boxes: Mailboxes, *, consumer: str | None, concurrency: int,
                 clock: Clock | None) -> None:
        self.boxes = boxes
        self.consumer = consumer or consumer_name(boxes.name)
        self.concurrency = concurrency
        self.clock = clock or SystemClock()

    async def drain(self, key: str) -> int:
        """Work through ``key``'s mailbox; return how many messages were finished."""
        raise NotImplementedError

    async def _serve(self, bell: Doorbell) -> int:
        # An exception leaves the doorbell pending: it is reclaimed after the idle time,
        # when the lock's lease (no longer renewed) has run out too. The step that empties
        # the mailbox acknowledges it on one server; otherwise it is acknowledged here.
        async with self.boxes.heartbeat() as lease:
            lease.bell = bell.entry_id
            done = await self.drain(bell.key)
        await self.boxes.after_loss(lease, self.clock.now())
        if not lease.acked:
            await self.boxes.ack(bell.entry_id)
        return done

    async def consume_once(self, block_ms: int | None = None, count: int | None = None) -> int:
        """Ring what is due, answer the doorbells waiting now; return messages finished."""
        await self.boxes.ring_due(self.clock.now())
        bells = await self.boxes.read(self.consumer, count or self.concurrency, block_ms)
        results = await asyncio.gather(*(self._serve(bell) for bell in bells),
                                       return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return sum(r for r in results if isinstance(r, int))

    async def _serve_logged(self, bell: Doorbell) -> None:
        try:
            await self._serve(bell)
        except Exception:
            # The doorbell stays pending and comes back once the lease ran out.
            log.exception("mailbox_drain_failed", queue=self.boxes.name)

    async def run(self, stop: asyncio.Event,
                  beat: Callable[[], Awaitable[None]] | None = None) -> None:
        """Serve doorbells with up to ``concurrency`` mailboxes at once until ``stop``.

        ``beat`` is awaited every iteration (at least once a second): the heartbeat that
        /readyz reads.
        """
        tasks: set[asyncio.Task[None]] = set()
        next_ring_check = 0.0
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            if beat is not None:
                await beat()
            free = self.concurrency - len(tasks)
            if free <= 0:
                await asyncio.wait(tasks, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
                continue
            try:
                if loop.time() >= next_ring_check:
                    next_ring_check = loop.time() + RING_CHECK_S
                    await self.boxes.ring_due(self.clock.now())
                bells = await self.boxes.read(self.consumer, free, READ_BLOCK_MS)
            except RedisError:
                log.exception("mailbox_read_failed", queue=self.boxes.name)
                try:
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
                except TimeoutError:
                    pass
                continue
            for bell in bells:
                task = asyncio.create_task(self._serve_logged(bell))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks)  # finish the mailboxes in hand

"""The Redis session store on a real Redis: round trips, locking, leases, dedupe, NOSCRIPT."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio import Redis

from bot.session_store import SessionBusy, SessionStore, conversation_key
from tests.redis_counting import primaries, round_trips

pytestmark = pytest.mark.redis  # on one Redis and on a Redis Cluster

KEY = conversation_key("whatsapp", "+919876500001")
DAY_MS = 24 * 3600 * 1000


class WatchedStore(SessionStore):
    """A store that reports when a ``begin`` has to wait for the lock."""

    def __init__(self, redis: Redis, **options: Any) -> None:
        super().__init__(redis, **options)
        self.waiting = asyncio.Event()

    async def _backoff(self, delay_s: float) -> None:
        self.waiting.set()
        await super()._backoff(delay_s)


async def test_turns_save_load_expire_and_delete(redis_client):
    store = SessionStore(redis_client)
    keys = store.keys(KEY)
    assert keys.session == "samvad:{whatsapp:+919876500001}:session"  # one cluster slot

    first = await store.begin(KEY, "wamid.1")
    assert (first.duplicate, first.data) == (False, None)
    assert 0 < await redis_client.pttl(keys.lock) <= 5_000  # the mailbox lease
    assert await redis_client.get(keys.message("wamid.1")) == b"processing"
    assert await store.commit(KEY, first.token, b'{"v":1,"f":"complaint"}', "wamid.1")
    assert not await redis_client.exists(keys.lock)
    assert await redis_client.get(keys.message("wamid.1")) == b"done"
    assert DAY_MS - 60_000 < await redis_client.pttl(keys.message("wamid.1")) <= DAY_MS
    assert 7 * DAY_MS - 60_000 < await redis_client.pttl(keys.session) <= 7 * DAY_MS

    second = await store.begin(KEY, None)  # no provider id: no dedupe
    assert second.data == b'{"v":1,"f":"complaint"}'
    assert await store.commit(KEY, second.token, b"\x00binary\xff", ttl_s=60)
    assert 0 < await redis_client.pttl(keys.session) <= 60_000

    third = await store.begin(KEY, "wamid.3")
    assert third.data == b"\x00binary\xff"
    assert await store.commit(KEY, third.token, None, "wamid.3")  # conversation over
    assert not await redis_client.exists(keys.session)

    other = conversation_key("sms", "+919876500002")
    turn = await store.begin(other, "SM1")
    assert await store.commit(other, turn.token, b"state", "SM1")
    await store.delete(other)
    assert (await store.begin(other, "SM2")).data is None


async def test_begin_and_commit_are_one_round_trip_each(redis_client):
    store = SessionStore(redis_client)
    await store.load_scripts()  # as a worker does at start; also opens the connection
    for message_id in ("wamid.A", "wamid.B"):  # the second turn also loads a session
        async with round_trips(redis_client) as begin:
            turn = await store.begin(KEY, message_id)
        async with round_trips(redis_client) as commit:
            assert await store.commit(KEY, turn.token, b"x" * 500, message_id)
        assert begin.is_one_evalsha(), begin
        assert commit.is_one_evalsha(), commit
    async with round_trips(redis_client) as duplicate:
        assert (await store.begin(KEY, "wamid.B")).duplicate
    async with round_trips(redis_client) as release:
        turn = await store.begin(KEY, "wamid.C")
        await store.release(KEY, turn.token, "wamid.C")
    assert duplicate.is_one_evalsha(), duplicate
    assert release.writes == 2 and release.server["evalsha"] == 2, release


async def test_duplicates_are_skipped_and_released_messages_retried(redis_client):
    store = SessionStore(redis_client)
    keys = store.keys(KEY)
    turn = await store.begin(KEY, "wamid.1")
    assert await store.commit(KEY, turn.token, b"after-1", "wamid.1")

    again = await store.begin(KEY, "wamid.1")
    assert (again.duplicate, again.token, again.data) == (True, None, None)
    assert not await redis_client.exists(keys.lock)  # a duplicate takes no lock

    failed = await store.begin(KEY, "wamid.2")
    assert await store.release(KEY, failed.token, "wamid.2")  # the turn failed
    assert not await redis_client.exists(keys.lock, keys.message("wamid.2"))
    retried = await store.begin(KEY, "wamid.2")  # the provider's retry is processed
    assert (retried.duplicate, retried.data) == (False, b"after-1")
    assert not await store.release(KEY, "not-the-token", "wamid.2")
    assert await redis_client.get(keys.lock) == retried.token.encode()
    assert await store.commit(KEY, retried.token, b"after-2", "wamid.2")
    assert (await store.begin(KEY, "wamid.2")).duplicate


async def test_concurrent_turns_of_one_person_run_one_after_the_other(redis_client):
    store = WatchedStore(redis_client)
    log: list[tuple[str, str]] = []

    async def turn(message_id: str) -> None:
        started = await store.begin(KEY, message_id)
        log.append(("begin", message_id))
        # Hold the lock until the other turn is known to be waiting for it.
        await asyncio.wait_for(store.waiting.wait(), timeout=5)
        count = int(started.data or b"0")
        assert await store.commit(KEY, started.token, str(count + 1).encode(), message_id)
        log.append(("commit", message_id))

    await asyncio.gather(turn("wamid.1"), turn("wamid.2"))
    assert await redis_client.get(store.keys(KEY).session) == b"2"  # no lost update
    first, second = log[0][1], log[2][1]
    assert {first, second} == {"wamid.1", "wamid.2"}
    assert log == [("begin", first), ("commit", first), ("begin", second), ("commit", second)]


async def test_a_retry_of_a_message_in_flight_waits_then_is_a_duplicate(redis_client):
    store = WatchedStore(redis_client)
    first = await store.begin(KEY, "wamid.1")
    retry = asyncio.create_task(store.begin(KEY, "wamid.1"))
    await asyncio.wait_for(store.waiting.wait(), timeout=5)
    assert await store.commit(KEY, first.token, b"once", "wamid.1")
    assert (await retry).duplicate


async def test_an_expired_lease_lets_the_next_turn_in_and_the_stale_holder_writes_nothing(
    redis_client,
):
    crashed = SessionStore(redis_client, lease_ms=50)
    live = SessionStore(redis_client, wait_s=5)
    keys = crashed.keys(KEY)
    stale = await crashed.begin(KEY, "wamid.1")
    assert 0 < await redis_client.pttl(keys.lock) <= 50

    # The provider retries the same message; it waits until the 50 ms lease runs out.
    fresh = await live.begin(KEY, "wamid.1")
    assert not fresh.duplicate and fresh.token != stale.token

    assert not await crashed.commit(KEY, stale.token, b"stale", "wamid.1")
    assert not await crashed.release(KEY, stale.token, "wamid.1")
    assert await redis_client.get(keys.lock) == fresh.token.encode()
    assert await redis_client.get(keys.message("wamid.1")) == b"processing"
    assert not await redis_client.exists(keys.session)

    assert await live.commit(KEY, fresh.token, b"fresh", "wamid.1")
    assert await redis_client.get(keys.session) == b"fresh"
    assert (await live.begin(KEY, "wamid.1")).duplicate


async def test_a_lease_that_ran_out_while_nothing_happened_still_commits(redis_client):
    """A turn stalled past its lease (the process starved of CPU, a long pause): its
    replies went out, so its state must be kept when no other turn came in meanwhile."""
    store = SessionStore(redis_client, lease_ms=50)
    keys = store.keys(KEY)
    assert await store.commit(KEY, (await store.begin(KEY, "wamid.0")).token, b"menu", "wamid.0")
    slow = await store.begin(KEY, "wamid.1")
    await asyncio.sleep(0.1)
    assert not await redis_client.exists(keys.lock)  # the lease ran out
    assert await store.commit(KEY, slow.token, b"pick", "wamid.1", began=slow)
    assert await redis_client.get(keys.session) == b"pick"
    assert (await store.begin(KEY, "wamid.1")).duplicate


async def test_a_lapsed_lease_does_not_commit_over_what_happened_meanwhile(redis_client):
    store = SessionStore(redis_client, lease_ms=50)
    keys = store.keys(KEY)
    assert await store.commit(KEY, (await store.begin(KEY, "wamid.0")).token, b"menu", "wamid.0")

    # Another message of the person came in and was answered: its state wins.
    slow = await store.begin(KEY, "wamid.1")
    await asyncio.sleep(0.1)
    other = await store.begin(KEY, "wamid.2")
    assert await store.commit(KEY, other.token, b"other", "wamid.2")
    assert not await store.commit(KEY, slow.token, b"slow", "wamid.1", began=slow)
    assert await redis_client.get(keys.session) == b"other"

    # The provider's retry of the same message ran it again to the end: done once.
    slow = await store.begin(KEY, "wamid.3")
    await asyncio.sleep(0.1)
    retry = await store.begin(KEY, "wamid.3")
    assert await store.commit(KEY, retry.token, b"other", "wamid.3")  # no change to the session
    assert not await store.commit(KEY, slow.token, b"twice", "wamid.3", began=slow)
    assert await redis_client.get(keys.session) == b"other"

    # Another turn holds the lock now: the stale turn writes nothing, the holder goes on.
    slow = await store.begin(KEY, "wamid.4")
    await asyncio.sleep(0.1)
    holder = await store.begin(KEY, "wamid.5")
    assert not await store.commit(KEY, slow.token, b"slow", "wamid.4", began=slow)
    assert await redis_client.get(keys.lock) == holder.token.encode()
    assert await redis_client.get(keys.session) == b"other"


async def test_session_busy_after_the_wait_bound(redis_client):
    holder = SessionStore(redis_client)
    impatient = SessionStore(redis_client, wait_s=0.05)
    held = await holder.begin(KEY, "wamid.1")

    with pytest.raises(SessionBusy) as busy:
        await impatient.begin(KEY, "wamid.2")
    assert busy.value.key == KEY
    assert "whatsapp:+********0001" in str(busy.value)  # the number is masked
    assert not await redis_client.exists(holder.keys(KEY).message("wamid.2"))

    await holder.release(KEY, held.token, "wamid.1")
    assert not (await impatient.begin(KEY, "wamid.2")).duplicate


async def test_scripts_survive_a_script_cache_flush(redis_client):
    store = SessionStore(redis_client)
    turn = await store.begin(KEY, "wamid.1")
    await redis_client.script_flush()  # what a Redis restart does to the script cache
    async with round_trips(redis_client) as recovering:
        assert await store.commit(KEY, turn.token, b"kept", "wamid.1")
    # EVALSHA -> NOSCRIPT, SCRIPT LOAD (on every primary of a cluster), EVALSHA.
    primary_count = primaries(redis_client)
    assert recovering.writes == 2 + primary_count, recovering
    assert (recovering.server["evalsha"], recovering.server["script"]) == (2, primary_count)

    await redis_client.script_flush()
    await store.load_scripts()
    async with round_trips(redis_client) as begin:
        turn = await store.begin(KEY, "wamid.2")
    assert turn.data == b"kept"
    assert begin.is_one_evalsha(), begin
    await store.release(KEY, turn.token, "wamid.2")


def test_refuses_a_client_that_decodes_replies():
    with pytest.raises(ValueError, match="decode_responses"):
        SessionStore(Redis(decode_responses=True))


async def test_the_commit_keeps_the_replies_for_a_worker_that_takes_over(redis_client):
    store = SessionStore(redis_client, replies_ttl_s=600)
    keys = store.keys(KEY)
    turn = await store.begin(KEY, "wamid.kept")
    async with round_trips(redis_client) as counted:
        assert await store.commit(KEY, turn.token, b"state", "wamid.kept", replies=b"[1,2]")
    assert counted.writes == 1  # kept in the same script as the commit
    assert await store.answered(KEY, "wamid.kept") == b"[1,2]"
    assert 590_000 < await redis_client.pttl(keys.replies("wamid.kept")) <= 600_000
    assert (await store.begin(KEY, "wamid.kept")).duplicate
    assert await store.answered(KEY, "wamid.other") is None
    lost = await store.begin(KEY, "wamid.lost")
    await redis_client.delete(keys.lock)  # the lease ran out: nothing is written
    assert not await store.commit(KEY, lost.token, b"late", "wamid.lost", replies=b"[3]")
    assert await store.answered(KEY, "wamid.lost") is None


async def test_a_held_lock_is_renewed_past_its_lease_and_a_dead_holders_runs_out(
        redis_client):
    store = SessionStore(redis_client, lease_ms=300, wait_s=0)
    turn = await store.begin(KEY, "wamid.slow")
    async with store.held(KEY, turn.token):
        await asyncio.sleep(0.9)  # three leases: the renewals keep it
        with pytest.raises(SessionBusy):
            await store.begin(KEY, "wamid.next")
    assert await store.commit(KEY, turn.token, b"slow turn", "wamid.slow")
    dead = await store.begin(KEY, "wamid.dead")  # its holder dies: nobody renews it
    assert dead.token is not None
    await asyncio.sleep(0.4)
    taken = await store.begin(KEY, "wamid.after")
    assert taken.data == b"slow turn"

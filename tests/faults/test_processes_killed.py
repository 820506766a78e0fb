"""Web and worker processes SIGKILLed at random instants under load, on one Redis server
and on a 3-master Redis Cluster.

Four processes as an orchestrator runs them: two ``samvad serve`` (each its own port,
behind one public URL) and two ``samvad worker``, with PostgreSQL and Redis. Six citizens
at a time file a complaint each (11 SMS, signed Twilio webhooks; when one has filed, a new
one starts, until the killing is over), sending through web 0 and web 1 in turn and
waiting for the answer to each message, as people do. The provider re-posts a webhook
that got no 200 (the same MessageSid) until it gets one; like a load balancer, the next
attempt goes to the other web process. Meanwhile a web process and a worker process, each
picked at random, are killed with SIGKILL ``KILLS`` times each (after a random pause, at
the next instant when replies are awaited; seeded: the seed is printed and
``SAMVAD_KILL_SEED`` replays it) and started again after a short pause.

Then every citizen must have received exactly the replies a citizen gets without any
fault (the transcript of a first citizen who filed before the killing), in the same
order: none missing, none twice, none other (a turn that did not run answers "We could
not do that just now" and puts the conversation out of step). Twilio can tell whether a
message went out, so no send may be a blind repeat either (the possible-duplicates
counter stays 0). Every inbound message has its reply jobs on record, every citizen one
complaint. Measured: the takeover time (from a worker kill to the reply of each citizen
waiting for one at that instant), the longest wait for a reply, and how sends cut by a
kill were resolved. The default mailbox lease applies (``SAMVAD_MAILBOX_LEASE_S``).
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from difflib import SequenceMatcher, unified_diff

import httpx
import pytest

from samvad.settings import Settings
from tests.faults.cluster import Phone, jobs_of, wait_until
from tests.faults.fleet import Fleet

SCRIPT = ["hi", "English", "Asha", "1", "1", "1", "1", "rajpur", "1",
          "Street light is off", "yes"]
LINES = 6  # citizens writing at the same time (a new one starts when one has filed)
KILLS = 3  # of a web process and of a worker process each
# How long a dead worker's mailboxes stay locked (SAMVAD_MAILBOX_LEASE_S, the default).
LEASE_S = Settings.model_fields["mailbox_lease_s"].default
REPLY_TIMEOUT_S = 90.0  # per message; a lost lease takes far less
DIGITS = re.compile(r"\d+")
TRY_AGAIN = "We could not do that just now"  # a turn that did not run (global.try_again)


def normal(body: str) -> str:
    """A reply without its numbers (complaint number, dates): comparable across citizens."""
    return DIGITS.sub("#", body)


@dataclass
class Step:
    acked: float  # the webhook's 200 (monotonic)
    answered: float  # the citizen's queues emptied: its replies went out


@dataclass
class Citizen:
    phone: Phone
    steps: list[Step] = field(default_factory=list)
    waiting: int | None = None  # the step whose reply is awaited
    cut: int = 0  # webhook attempts without a 200, re-posted


@dataclass
class Kill:
    kind: str  # web or worker
    index: int
    at: float
    waiting: list[tuple[Citizen, int]]  # (citizen, step) waiting for a reply then
    down_s: float = 0.0  # from the kill until its replacement was up


@dataclass
class Load:
    """What the citizens and the killers share."""

    fleet: Fleet
    citizens: list[Citizen] = field(default_factory=list)
    kills: list[Kill] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    killers_done: threading.Event = field(default_factory=threading.Event)

    def in_flight(self) -> int:
        """Citizens waiting for a reply right now."""
        return sum(citizen.waiting is not None for citizen in self.citizens)


def deliver(fleet: Fleet, citizen: Citizen, body: str, first_web: int) -> float:
    """Post ``body`` as Twilio would (same MessageSid until a 200), alternating the web
    process per attempt; the instant of the 200."""
    sid = "SM" + uuid.uuid4().hex
    web = first_web

    def accepted() -> float | None:
        nonlocal web
        try:
            answer, _ = citizen.phone.webhook(body, sid, base=fleet.web_url(web))
            if answer.status_code == 200:
                return time.monotonic()
        except httpx.TransportError:
            pass
        citizen.cut += 1
        web = (web + 1) % fleet.WEBS
        return None

    acked = wait_until(accepted, 60, f"a web process to accept {body!r}", pause=0.2)
    citizen.phone.sent.append(sid)
    return float(acked)


def converse(load: Load, citizen: Citizen, first_web: int, rng: random.Random) -> None:
    """Send the script, each message after the previous one was answered."""
    fleet, phone = load.fleet, citizen.phone
    for step, body in enumerate(SCRIPT):
        acked = deliver(fleet, citizen, body, (first_web + step) % fleet.WEBS)
        with load.lock:
            citizen.waiting = step
        try:
            wait_until(lambda: fleet.settled("sms", phone.number), REPLY_TIMEOUT_S,
                       f"the reply to message {step + 1} of {phone.number[-4:]}", pause=0.05)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; in Redis: {fleet.person_state('sms', phone.number)}, "
                                 f"{len(phone.received())} replies") from None
        with load.lock:
            citizen.steps.append(Step(acked, time.monotonic()))
            citizen.waiting = None
        time.sleep(rng.uniform(0.2, 0.8))  # reading and typing


def line(load: Load, number: int, rng: random.Random) -> None:
    """Citizens one after the other, until the killers are done (at least one)."""
    for turn in range(100):
        citizen = Citizen(load.fleet.phone(f"+919876520{number}{turn:02d}"))
        with load.lock:
            load.citizens.append(citizen)
        converse(load, citizen, number + turn, rng)
        if load.killers_done.is_set():
            return


def killer(load: Load, kind: str, rng: random.Random) -> None:
    """Kill a random process of ``kind`` ``KILLS`` times, restarting it after each."""
    fleet = load.fleet
    kill = fleet.kill_web if kind == "web" else fleet.kill_worker_process
    restart = fleet.restart_web if kind == "web" else fleet.restart_worker
    for _ in range(KILLS):
        time.sleep(rng.uniform(0.5, 2.5))
        # ... then the next instant with work in flight (a kill of an idle process tests
        # little); bounded: the citizens may all be reading.
        with contextlib.suppress(AssertionError):
            wait_until(lambda: load.in_flight() >= 2, 5, "replies in flight", pause=0.01)
        index = rng.randrange(fleet.WEBS if kind == "web" else fleet.WORKERS)
        with load.lock:
            waiting = [(c, c.waiting) for c in load.citizens if c.waiting is not None]
            kill(index)
            record = Kill(kind, index, time.monotonic(), waiting)
            load.kills.append(record)
        time.sleep(rng.uniform(0.3, 1.5))  # the orchestrator notices and starts another
        restart(index)
        record.down_s = time.monotonic() - record.at


def compare(received: list[str], expected: list[str]) -> dict[str, int]:
    """Missing, extra (duplicates) and wrong replies (others than expected) of one citizen."""
    counts = {"missing": 0, "extra": 0, "wrong": 0}
    matcher = SequenceMatcher(a=expected, b=received, autojunk=False)
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag == "delete":
            counts["missing"] += a1 - a0
        elif tag == "insert":
            counts["extra"] += b1 - b0
        elif tag == "replace":
            counts["wrong"] += max(a1 - a0, b1 - b0)
    return counts


def takeovers(kills: list[Kill]) -> list[float]:
    """Per worker kill that found citizens waiting: the longest time from the kill to the
    reply of one of them (those whose mailbox the dead worker held wait longest)."""
    spans = []
    for kill in kills:
        answered = [citizen.steps[step].answered - kill.at for citizen, step in kill.waiting
                    if step < len(citizen.steps)]
        if kill.kind == "worker" and answered:
            spans.append(max(answered))
    return spans


def outcome(sends: dict[str, int], name: str) -> int:
    """Sends of one outcome, whatever the error code."""
    return sum(count for key, count in sends.items() if key.partition("/")[0] == name)


def differences(citizens: list[Citizen], expected: list[str], limit: int = 80) -> str:
    """The transcripts that differ from the expected one, as a diff (for the failure)."""
    lines: list[str] = []
    for citizen in citizens:
        received = [normal(body) for body in citizen.phone.received()]
        if received != expected:
            lines.append(f"{citizen.phone.number[-4:]}: {compare(received, expected)}")
            lines.extend(unified_diff(expected, received, lineterm="", n=1))
    return "\n".join(lines[:limit])


def measure(fleet: Fleet, load: Load, expected: list[str]) -> dict[str, object]:
    """The run's figures: messages, replies, lost / twice / wrong replies, takeover
    time, re-posted webhooks, the kills and the workers' counters."""
    citizens = load.citizens
    results = [compare([normal(b) for b in c.phone.received()], expected) for c in citizens]
    sends = fleet.counted("samvad_outbound_sends_total", "outcome", "error_code")
    return {
        "citizens": len(citizens),
        "messages": sum(len(c.phone.sent) for c in citizens),
        "replies": sum(len(c.phone.received()) for c in citizens),
        "expected": len(expected) * len(citizens),
        "lost": sum(r["missing"] for r in results),
        "twice": sum(r["extra"] for r in results),
        "wrong": sum(r["wrong"] for r in results),
        "try_again": sum(TRY_AGAIN in body for c in citizens for body in c.phone.received()),
        "session_busy": fleet.log_count("session_busy"),  # a dead worker's conversation lock
        "takeover_s": round(max(takeovers(load.kills), default=0.0), 1),
        "takeovers_s": [round(span, 1) for span in takeovers(load.kills)],
        "longest_wait_s": round(max((s.answered - s.acked for c in citizens for s in c.steps),
                                    default=0.0), 1),
        "reposted": sum(c.cut for c in citizens),
        "kills": [(k.kind, k.index, round(k.down_s, 1)) for k in load.kills],
        # Sends whose outcome a kill left unknown, resolved through Twilio's message list:
        "found_at_twilio": fleet.log_count("twilio_found_sent"),
        "sent_again": fleet.log_count("send_not_sent_sending_again"),
        "unknown": outcome(sends, "unknown"),  # given up (none expected)
        "possible_duplicates": sum(fleet.counted("samvad_send_possible_duplicates_total",
                                                 "provider").values()),
        "sends": sends,
        "turns": fleet.counted("samvad_inbound_messages_total", "outcome"),
    }


@pytest.mark.reliability
@pytest.mark.timeout(300)
@pytest.mark.parametrize("redis_kind", ["single", "cluster"])
def test_web_and_worker_processes_killed_at_random_lose_and_duplicate_nothing(
        make_fleet, reliability, redis_kind: str) -> None:
    seed = int(os.environ.get("SAMVAD_KILL_SEED") or random.randrange(2**32))
    print(f"SAMVAD_KILL_SEED={seed} ({redis_kind} Redis)")
    rng = random.Random(seed)
    started = time.monotonic()
    fleet: Fleet = make_fleet(redis_kind).start()
    up_s = time.monotonic() - started

    # The transcript without faults: a first citizen files the same complaint.
    model = fleet.phone("+919876529999")
    for body in SCRIPT:
        model.say(body)
    expected = [normal(body) for body in model.received()]
    assert "is filed" in expected[-1] or "is filed" in expected[-2]

    load = Load(fleet)
    errors: list[BaseException] = []

    def guarded(target, *args) -> None:  # type: ignore[no-untyped-def]
        try:
            target(*args)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    lines = [threading.Thread(target=guarded, args=(line, load, n, random.Random(rng.random())))
             for n in range(LINES)]
    killers = [threading.Thread(target=guarded, args=(killer, load, kind,
                                                      random.Random(rng.random())))
               for kind in ("web", "worker")]
    load_started = time.monotonic()
    for thread in [*lines, *killers]:
        thread.start()
    for thread in killers:
        thread.join(180)
    load.killers_done.set()
    for thread in lines:
        thread.join(180)
    load_s = time.monotonic() - load_started
    assert not any(thread.is_alive() for thread in [*lines, *killers]), "a thread hung"

    # What the provider got, whatever happened (printed before anything is asserted).
    figures = measure(fleet, load, expected)
    print(f"{redis_kind}: processes up in {up_s:.1f} s, load {load_s:.1f} s, {figures}")
    assert not errors, errors

    assert [k.kind for k in load.kills].count("web") == KILLS
    assert [k.kind for k in load.kills].count("worker") == KILLS
    assert fleet.restarts == {"web": KILLS, "worker": KILLS}
    citizens = load.citizens
    assert all(len(c.steps) == len(SCRIPT) for c in citizens)
    # Every citizen got the very replies of the fault-free transcript, in order, each once:
    # Twilio can tell whether a message went out, so no send was a blind repeat either.
    assert figures["lost"] == figures["twice"] == figures["wrong"] == 0, differences(
        citizens, expected)
    assert figures["possible_duplicates"] == 0
    for citizen in citizens:
        assert len(fleet.complaints_of(citizen.phone.number)) == 1
    # Delivery records are written in batches after the sends: a killed worker's unwritten
    # batch is lost (the replies went out; the record is what is missing). Counted, not
    # hidden: most messages must have theirs.
    sids = [sid for c in citizens for sid in c.phone.sent]
    recorded = {job.split(":", 1)[0] for job, _status, _sid in jobs_of(fleet, sids)}
    unrecorded = len(set(sids) - recorded)
    print(f"{redis_kind}: {unrecorded} of {len(sids)} messages without a delivery record")
    assert recorded <= set(sids) and unrecorded <= 4 * KILLS

    reliability.record(
        area="fault",
        case=f"web and worker processes SIGKILLed at random under load ({redis_kind} Redis"
             f"{', 3 masters' if redis_kind == 'cluster' else ''})",
        sent=f"{len(citizens)} citizens ({LINES} at a time) × {len(SCRIPT)} SMS (a complaint "
             f"each) through 2 `samvad serve` in turn, 2 `samvad worker`; a random web and a "
             f"random worker process SIGKILLed {KILLS}× each at random instants and "
             f"restarted (seed {seed})",
        did=f"{figures['reposted']} webhook attempt(s) got no 200 and were re-posted (to the "
            f"other web); a dead worker's mailboxes taken over after its {LEASE_S:g} s lease: "
            f"takeover {figures['takeovers_s']} s per worker kill (kill to the reply of the "
            f"citizens waiting then; a send cut mid-call is looked up at Twilio once the call "
            f"has surely ended, 15 s after it began), longest wait for a reply "
            f"{figures['longest_wait_s']} s",
        lost=f"nothing: {figures['messages']}/{figures['messages']} messages answered, "
             f"{figures['replies']} replies in order, 0 missing, 0 twice (Twilio can tell; "
             f"{figures['found_at_twilio']} send(s) cut by a kill found in Twilio's message "
             f"list, {figures['sent_again']} not found there and sent). Known limit: the "
             f"delivery records of {unrecorded} message(s) whose batch a kill cut were not "
             f"written (the replies went out)",
    )

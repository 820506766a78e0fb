"""The load: scripted citizens sending signed Twilio webhooks, open and closed loop.

A citizen's turn N+1 may only follow the replies to turn N, so offered load comes from
many citizens: closed loop keeps ``concurrency`` citizens busy (each sends its next turn
as soon as the last reply of the previous one reached the fake Twilio); open loop sends
turns at a fixed rate, each from a citizen whose previous turn is answered, starting a
new citizen whenever none is ready. Latency is webhook sent -> last reply of the turn
at the fake, matched by phone number (replies of one person arrive in order). A "we are
busy" notice (``busy``) is counted apart and never ends a turn: the turn's own replies do.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from bench.wire import ACCOUNT_SID, SMS_FROM, Client

TURN_TIMEOUT_S = 30.0  # a turn not answered by then is lost (its citizen is replaced)
LATE_S = 15.0  # the overload target: no turn answered later than this at 90 % load


@dataclass(frozen=True)
class Turn:
    text: str
    kind: str  # onboarding, menu (only shows a menu), language, complaint, track, bill


# One new citizen's SMS conversation (tests/bot/transcripts: onboarding, file_complaint,
# track_complaint, pay_bill): every kind of turn of the mix, in a realistic order. At most
# 20 turns: SAMVAD_INBOUND_PER_MINUTE (20 by default) stays on, and a scripted citizen
# sends the whole conversation within a minute.
SCRIPT: tuple[Turn, ...] = (
    Turn("hi", "onboarding"),
    Turn("English", "onboarding"),
    Turn("Asha", "onboarding"),
    Turn("language", "menu"),
    Turn("2", "language"),
    Turn("language", "menu"),
    Turn("1", "language"),
    Turn("1", "complaint"),
    Turn("1", "complaint"),
    Turn("1", "complaint"),
    Turn("1", "complaint"),
    Turn("rajpur", "complaint"),
    Turn("1", "complaint"),
    Turn("The light near the school gate is off for a week", "complaint"),
    Turn("yes", "complaint"),
    Turn("2", "track"),
    Turn("0", "menu"),
    Turn("3", "bill"),
    Turn("2", "bill"),
    Turn("ws-ddn-10234", "bill"),
)


class Signer:
    """Builds the HTTP bytes of signed Twilio SMS webhooks (``RequestValidator``)."""

    def __init__(self, port: int, public_url: str, token: str, path: str = "/webhooks/twilio"):
        self.url = public_url.rstrip("/") + path
        self.head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                     "Content-Type: application/x-www-form-urlencoded\r\n").encode()
        self.validator = RequestValidator(token)
        self.sids = itertools.count(random.randrange(1 << 40))

    def request(self, phone: str, text: str) -> bytes:
        sid = f"SM{next(self.sids):032x}"
        pairs = [("ToCountry", "US"), ("SmsMessageSid", sid), ("NumMedia", "0"),
                 ("SmsSid", sid), ("SmsStatus", "received"), ("Body", text),
                 ("FromCountry", "IN"), ("To", SMS_FROM), ("NumSegments", "1"),
                 ("MessageSid", sid), ("AccountSid", ACCOUNT_SID), ("From", phone),
                 ("ApiVersion", "2010-04-01")]
        body = urlencode(pairs).encode()
        signature = self.validator.compute_signature(self.url, dict(pairs))
        return (self.head + b"X-Twilio-Signature: " + signature.encode() + b"\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


@dataclass
class Citizen:
    phone: str
    turn: int = 0
    received: int = 0
    target: int = 0
    waiter: asyncio.Future[float] | None = None
    texts: list[str] = field(default_factory=list)


@dataclass
class Sample:
    kind: str
    sent: float
    done: float
    ok: bool


@dataclass
class Result:
    """One load step: what was offered, what came back."""

    mode: str
    offered_rate: float | None
    concurrency: int | None
    duration_s: float
    samples: list[Sample]
    errors: int = 0
    busy_replies: int = 0

    @property
    def completed(self) -> list[Sample]:
        return [s for s in self.samples if s.ok]

    @property
    def lost(self) -> int:
        return sum(not s.ok for s in self.samples)

    def throughput(self) -> float:
        """Turns answered per second (every reply delivered), over the sending window."""
        if not self.samples:
            return 0.0
        start = min(s.sent for s in self.samples)
        end = start + self.duration_s
        return sum(1 for s in self.completed if s.done <= end) / self.duration_s

    def achieved_offer(self) -> float:
        return len(self.samples) / self.duration_s if self.duration_s else 0.0

    def latencies_ms(self) -> list[float]:
        return sorted((s.done - s.sent) * 1000 for s in self.completed)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of sorted ``values``, nearest rank."""
    if not values:
        return float("nan")
    index = min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))
    return values[index]


class Load:
    """Runs citizens against one server. ``replies``: replies per script turn (from the
    calibration); ``None`` means a turn is done when the HTTP response came back (the
    ceiling, and peers that answer in the response). ``busy(text)`` tells the overload
    notice from a reply."""

    def __init__(self, client: Client, build: Callable[[Citizen, Turn], bytes],
                 script: Sequence[Turn], replies: Sequence[int] | None,
                 phone_base: int, busy: Callable[[str], bool] | None = None) -> None:
        self.client = client
        self.build = build
        self.script = list(script)
        self.replies = list(replies) if replies is not None else None
        self.busy = busy
        self.citizens: dict[str, Citizen] = {}
        self.numbers = itertools.count(phone_base)
        self.http_errors = 0
        self.busy_replies = 0

    def new_citizen(self) -> Citizen:
        citizen = Citizen(f"+9197{next(self.numbers) % 10**8:08d}")
        self.citizens[citizen.phone] = citizen
        return citizen

    def arrived(self, phone: str, text: str, at: float) -> None:
        """The fake Twilio got a message for ``phone`` at ``at`` (perf_counter)."""
        citizen = self.citizens.get(phone)
        if citizen is None:
            return
        if self.busy is not None and self.busy(text):
            self.busy_replies += 1
            return
        citizen.received += 1
        citizen.texts.append(text)
        waiter = citizen.waiter
        if waiter is not None and citizen.received >= citizen.target and not waiter.done():
            waiter.set_result(at)

    async def turn(self, citizen: Citizen) -> Sample:
        """Send the citizen's next turn; done when its replies (or response) arrived."""
        step = self.script[citizen.turn]
        request = self.build(citizen, step)
        loop = asyncio.get_running_loop()
        if self.replies is not None:
            citizen.target += self.replies[citizen.turn]
            citizen.waiter = loop.create_future()
        citizen.turn += 1
        sent = time.perf_counter()
        status = await self.client.post(request)
        if status != 200:
            self.http_errors += 1
            return Sample(step.kind, sent, time.perf_counter(), False)
        if citizen.waiter is None:
            return Sample(step.kind, sent, time.perf_counter(), True)
        try:
            done = await asyncio.wait_for(asyncio.shield(citizen.waiter), TURN_TIMEOUT_S)
        except TimeoutError:
            return Sample(step.kind, sent, time.perf_counter(), False)
        return Sample(step.kind, sent, done, True)

    async def closed(self, concurrency: int, duration_s: float) -> Result:
        """``concurrency`` citizens back to back for ``duration_s``."""
        samples: list[Sample] = []
        errors, busy = self.http_errors, self.busy_replies
        deadline = time.perf_counter() + duration_s

        async def one() -> None:
            citizen = self.new_citizen()
            while time.perf_counter() < deadline:
                if citizen.turn >= len(self.script):
                    citizen = self.new_citizen()
                sample = await self.turn(citizen)
                samples.append(sample)
                if not sample.ok:
                    citizen = self.new_citizen()

        await asyncio.gather(*(one() for _ in range(concurrency)))
        return Result("closed", None, concurrency, duration_s, samples,
                      self.http_errors - errors, self.busy_replies - busy)

    async def open(self, rate: float, duration_s: float) -> Result:
        """Turns at ``rate`` per second for ``duration_s``, whatever the answers do."""
        samples: list[Sample] = []
        errors, busy = self.http_errors, self.busy_replies
        ready: deque[Citizen] = deque()
        tasks: set[asyncio.Task[None]] = set()

        async def one(citizen: Citizen) -> None:
            sample = await self.turn(citizen)
            samples.append(sample)
            if sample.ok and citizen.turn < len(self.script):
                ready.append(citizen)

        start = time.perf_counter()
        total = int(rate * duration_s)
        for index in range(total):
            delay = start + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            citizen = ready.popleft() if ready else self.new_citizen()
            task = asyncio.create_task(one(citizen))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=TURN_TIMEOUT_S + 5)
        return Result("open", rate, None, duration_s, samples, self.http_errors - errors,
                      self.busy_replies - busy)

    async def calibrate(self, quiet_s: float = 0.2,
                        around: Callable[[int, str], Awaitable[None]] | None = None,
                        ) -> list[list[str]]:
        """Walk one citizen through the script, one turn at a time; the replies of each
        turn (a turn is over when no reply came for ``quiet_s``). ``around(i, phase)`` is
        awaited before ("before") and after ("after") turn ``i`` (metering)."""
        citizen = self.new_citizen()
        replies: list[list[str]] = []
        for index, step in enumerate(self.script):
            if around is not None:
                await around(index, "before")
            seen = citizen.received
            status = await self.client.post(self.build(citizen, step))
            if status != 200:
                raise RuntimeError(f"calibration turn {index} ({step.text!r}): HTTP {status}")
            deadline = time.perf_counter() + TURN_TIMEOUT_S
            while citizen.received == seen and time.perf_counter() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            if citizen.received == seen:
                raise RuntimeError(f"calibration turn {index + 1} ({step.text!r}): no reply; "
                                   f"the replies so far: {citizen.texts!r}")
            last = citizen.received
            while True:
                await asyncio.sleep(quiet_s)
                if citizen.received == last:
                    break
                last = citizen.received
            replies.append(citizen.texts[seen:last])
            if around is not None:
                await around(index, "after")
        return replies

"""Fakes for the queue tests: a virtual clock, scripted Senders (one that can look up what
it sent), recorded reports."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from channels.base import OutboundJob, SendError, SendErrorKind, SendResult
from channels.queues import AMBIGUOUS

START = 1_800_000_000.0


class FakeClock:
    """Virtual time: ``sleep`` moves time forward instead of waiting."""

    def __init__(self, start: float = START) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        target = self.t + seconds
        await asyncio.sleep(0)
        self.t = max(self.t, target)


class WorkerDied(Exception):
    """Stands for the process being killed at that point."""


class AnswerLost:
    """A scripted outcome: the provider took the job, and its answer was lost (a read
    timeout: ``SendError(CONNECTION, AMBIGUOUS)``)."""


@dataclass
class FakeSender:
    """Answers each call for a job with its next scripted outcome (default: success)."""

    clock: FakeClock
    script: dict[str, list[SendError | type[WorkerDied] | type[AnswerLost]]] = field(
        default_factory=dict)
    provider: str = "fake"
    calls: list[OutboundJob] = field(default_factory=list)
    sent: list[tuple[float, OutboundJob]] = field(default_factory=list)

    async def send(self, job: OutboundJob) -> SendResult:
        self.calls.append(job)
        planned = self.script.get(job.job_id)
        outcome = planned.pop(0) if planned else None
        if isinstance(outcome, SendError):
            raise outcome
        self.sent.append((self.clock.now(), job))
        if outcome is WorkerDied:  # the provider took it; the worker dies before noting it
            raise WorkerDied
        if outcome is AnswerLost:
            raise SendError(SendErrorKind.CONNECTION, AMBIGUOUS, "read timeout")
        return SendResult(f"FAKE{len(self.sent)}", "queued")

    def texts(self, to: str | None = None) -> list[str]:
        return [job.message["text"] for _, job in self.sent if to is None or job.to == to]


@dataclass
class LookupSender(FakeSender):
    """A ``FakeSender`` that can tell whether a job went out (``SentLookup``), as Twilio
    can: from what it took since ``since``. The next ``lookup_down`` lookups fail as a
    provider that cannot be reached."""

    lookup_down: int = 0
    lookups: list[tuple[str, float]] = field(default_factory=list)

    async def find_sent(self, job: OutboundJob, since: float) -> SendResult | None:
        self.lookups.append((job.job_id, since))
        if self.lookup_down:
            self.lookup_down -= 1
            raise SendError(SendErrorKind.CONNECTION, "503", "provider down")
        for number, (at, taken) in enumerate(self.sent, start=1):
            if taken.job_id == job.job_id and at >= since:
                return SendResult(f"FAKE{number}", "sent")
        return None


@dataclass
class RecordedReports:
    """DeliveryReports that remember what they were told."""

    records: list[tuple[str, str, int, str | None, str | None]] = field(default_factory=list)
    opted_out: list[str] = field(default_factory=list)

    async def record(self, job: OutboundJob, status: str, *,
                     provider_message_id: str | None = None, error_code: str | None = None,
                     attempts: int = 0) -> None:
        self.records.append((job.job_id, status, attempts, error_code, provider_message_id))

    async def opt_out(self, phone: str) -> None:
        self.opted_out.append(phone)

    def last(self, job_id: str) -> tuple[str, int, str | None]:
        """(status, attempts, error code) of the latest record of ``job_id``."""
        found = [r for r in self.records if r[0] == job_id]
        assert found, f"no record of {job_id}: {self.records}"
        return found[-1][1], found[-1][2], found[-1][3]

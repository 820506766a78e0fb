"""The web process dies (SIGKILL) right before the admission of an inbound message, between
its script and its doorbell, or right after it, before it answers the webhook; the
provider then retries the same message id.

Admission (``InboundQueue.admit``) claims the message id and queues the message in one
Redis script, then rings the doorbell, so a crash leaves the message either unclaimed
(the retry is taken) or queued (the retry is a duplicate, which rings the doorbell again;
the queued copy is answered, also when the first ring never happened). The
kill comes from the test hook ``SAMVAD_TEST_KILL_AT`` (``channels/kill_points.py``): the
killed attempt carries ``X-Samvad-Test-Kill: <point>``, the retry does not. Each point is
hit several times, for Twilio and for Meta, on one cluster whose uvicorn supervisor
replaces the killed workers before the retries are sent.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from channels.kill_points import HEADER
from tests.faults.cluster import Cluster, Phone, Postgres, jobs_of, wait_until
from tests.faults.conftest import Clusters

POINTS = ("before_admit", "before_ring", "after_admit")
REPEATS = 3
_numbers = itertools.count(201)


@pytest.fixture(scope="module")
def cluster(fault_pg: Postgres, fault_root: Path,
            request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """One cluster for the module (each kill costs only a worker restart), both providers."""
    clusters = Clusters(fault_pg, fault_root)
    failed_before = request.session.testsfailed
    try:
        yield clusters.make(meta=True, SAMVAD_TEST_KILL_AT=",".join(POINTS)).start()
    finally:
        clusters.close(print_logs=request.session.testsfailed > failed_before)


def new_citizen(cluster: Cluster, provider: str) -> Phone:
    number = f"+919876500{next(_numbers):03d}"
    return cluster.meta_phone(number) if provider == "meta" else cluster.phone(number)


def web_ready(cluster: Cluster) -> int:
    """How many web workers have finished starting so far (each logs it once)."""
    return (cluster.root / "web.log").read_bytes().count(b"Application startup complete")


def wait_replaced(cluster: Cluster, ready: int, killed: int, what: str) -> None:
    """Until ``killed`` workers were replaced and have started serving (2 up again)."""
    wait_until(lambda: len(cluster.web_pids()) == 2 and web_ready(cluster) >= ready + killed,
               60, what, pause=0.2)


@pytest.fixture(scope="module")
def first_contact(cluster: Cluster) -> dict[str, list[str]]:
    """What a new citizen hears back from "hi", per provider, with no fault."""
    replies = {}
    for provider in ("twilio", "meta"):
        phone = new_citizen(cluster, provider)
        phone.text("hi")
        replies[provider] = phone.wait_settled(0)
    return replies


def message_id(provider: str) -> str:
    return ("wamid." if provider == "meta" else "SM") + uuid.uuid4().hex


def check_retry(provider: str, point: str, sid: str, retry: httpx.Response) -> None:
    """Before admission nothing was claimed: the retry is taken. After its script, the
    message was queued: the retry is refused as the duplicate (and rings again)."""
    assert retry.status_code == 200, retry.text
    ignored = retry.headers.get("X-Samvad-Ignored") if provider == "twilio" else (
        retry.json()["ignored"])
    if point == "before_admit":
        assert not ignored
        assert provider == "twilio" or retry.json()["messages"] == 1
    elif provider == "twilio":
        assert ignored == "duplicate MessageSid"
    else:
        assert ignored == [{"what": f"message:{sid}", "reason": "duplicate message id"}]


@pytest.mark.reliability
@pytest.mark.timeout(240)
@pytest.mark.parametrize("provider", ["twilio", "meta"])
def test_a_web_worker_killed_at_admission_loses_and_duplicates_nothing(
        cluster: Cluster, first_contact: dict[str, list[str]], provider: str,
        reliability) -> None:  # type: ignore[no-untyped-def]
    expected = first_contact[provider]
    assert expected and any("Choose your language" in reply for reply in expected), expected
    everyone: list[Phone] = []
    kills = [(point, attempt) for attempt in range(1, REPEATS + 1) for point in POINTS]
    for batch in (kills[start:start + 2] for start in range(0, len(kills), 2)):
        # One new citizen per kill; each kills the worker that took it, so a batch of two
        # kills both workers (the second request can only reach the one still up).
        ready = web_ready(cluster)
        killed: list[tuple[str, int, Phone, str]] = []
        for point, attempt in batch:
            citizen, sid = new_citizen(cluster, provider), message_id(provider)
            with pytest.raises(httpx.TransportError):  # no answer: the worker died
                citizen.webhook("hi", sid, headers={HEADER: point})
            killed.append((point, attempt, citizen, sid))
            everyone.append(citizen)
        wait_replaced(cluster, ready, len(killed), f"new web workers (after {batch})")

        for point, _attempt, citizen, sid in killed:  # the provider delivers it again
            retry, _ = citizen.webhook("hi", sid)
            check_retry(provider, point, sid, retry)
            citizen.sent.append(sid)
        for point, attempt, citizen, sid in killed:
            case = f"{provider}, killed {point}, round {attempt}"
            assert citizen.wait_settled(0) == expected, case  # one turn's replies, once
            jobs = sorted(job_id for job_id, _status, _sid in jobs_of(cluster, [sid]))
            assert jobs == [f"{sid}:{index}" for index in range(len(expected))], case
    assert [citizen.received() for citizen in everyone] == [expected] * len(everyone)

    name = "Twilio" if provider == "twilio" else "Meta"
    reliability.record(
        area="fault", case=f"{name} webhook: web worker killed (SIGKILL) at admission",
        sent=f"{3 * REPEATS} signed {name} webhooks from new citizens over `serve --workers "
             f"2`, {REPEATS} killing the worker that took them right before the admission "
             f"script, {REPEATS} between the script and the doorbell and {REPEATS} right "
             "after both, before the answer (`SAMVAD_TEST_KILL_AT`); then the provider's "
             "retry with the same message id, once uvicorn replaced the worker",
        did="no answer to a killed attempt; its retry taken when killed before admission, "
            "answered `duplicate` when killed after the script (dedupe, flood count and "
            "queueing are one Redis script: no message id is claimed without its message "
            "queued), and the duplicate rings the doorbell again, so a message queued by a "
            "worker killed before its ring is answered too",
        lost=f"nothing: {3 * REPEATS}/{3 * REPEATS} messages answered exactly once (the "
             "same replies as without a fault, one reply job each)",
    )

"""A web worker is killed (SIGKILL) while webhooks are in flight.

The webhook acknowledges a message (200) only after it is queued in Redis; a request cut
by the kill gets no answer, and Twilio sends it again with the same MessageSid (simulated
here: ``Phone.text`` re-posts until it sees a 200). Claiming the MessageSid and queuing
the message are one Redis script, so a kill between them cannot lose it (the instants
around that script are hit on purpose in ``test_webhook_killed_at_admission``). Then
Twilio's own retries of messages whose acknowledgement it never saw arrive once more: all
are dropped as repeats.
"""

from __future__ import annotations

import os
import signal
import threading

import pytest

from tests.faults.cluster import exactly_once, wait_until

FILE_COMPLAINT = ["hi", "English", "Asha", "1", "1", "1", "1", "rajpur", "1",
                  "Street light is off", "yes"]


@pytest.mark.reliability
@pytest.mark.timeout(300)
def test_killing_a_web_worker_loses_and_duplicates_nothing(make_cluster, reliability) -> None:
    cluster = make_cluster().start()
    phones = [cluster.phone("+919876500071"), cluster.phone("+919876500072")]
    halfway = threading.Barrier(len(phones) + 1, timeout=120)
    errors: list[BaseException] = []

    def converse(phone) -> None:  # type: ignore[no-untyped-def]
        try:
            for index, text in enumerate(FILE_COMPLAINT):
                if index == 5:
                    halfway.wait()
                before = len(phone.received())
                phone.text(text)
                phone.wait_settled(before)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            halfway.abort()

    threads = [threading.Thread(target=converse, args=(p,)) for p in phones]
    for thread in threads:
        thread.start()
    halfway.wait()
    # Both citizens are now sending their 6th message; one web worker dies under them.
    # (Chosen now: under load uvicorn may have replaced a worker that missed a health ping.)
    victim = cluster.web_pids()[0]
    os.kill(victim, signal.SIGKILL)
    for thread in threads:
        thread.join(240)
    assert not errors, errors

    # uvicorn's supervisor replaced the dead worker.
    def replaced() -> list[int] | None:
        pids = cluster.web_pids()
        return pids if len(pids) == 2 and victim not in pids else None

    wait_until(replaced, 60, "a new web worker")

    # Twilio retries every message once more (as when an acknowledgement was lost).
    repeats = 0
    for phone in phones:
        for sid in phone.sent:
            answer, _ = phone.webhook("retry", sid)
            assert answer.status_code == 200
            assert answer.headers.get("X-Samvad-Ignored") == "duplicate MessageSid"
            repeats += 1

    cut = sum(phone.unacknowledged for phone in phones)
    counts = exactly_once(cluster, phones)
    for phone in phones:
        assert len(cluster.complaints_of(phone.number)) == 1
        assert "is filed" in phone.received()[-1] or "is filed" in phone.received()[-2]
    assert counts["inbound"] == len(phones) * len(FILE_COMPLAINT)
    reliability.record(
        area="fault", case="web worker killed (SIGKILL) mid-conversation",
        sent=f"2 citizens × {len(FILE_COMPLAINT)} SMS (a complaint each) over `serve --workers"
             f" 2`; one worker killed as both sent their 6th; then {repeats} Twilio retries "
             "with the same MessageSids",
        did=f"{cut} webhook attempt(s) got no 200 and were re-posted until acknowledged (200"
            " only once queued in Redis); uvicorn started a new worker; every later retry "
            "answered 200 `duplicate MessageSid` and ignored",
        lost=f"nothing: {counts['inbound']}/{counts['inbound']} messages answered, "
             f"{counts['replies']} replies each sent once, 2/2 complaints filed once",
    )

"""Twilio's Messages API is down (503), then throttles (429), then recovers.

Compressed in time: ``SAMVAD_SEND_RETRY_BASE_S`` 0.3 s (production default 2 s, capped at
15 minutes) and 12 attempts, so an outage of some seconds stands for one of minutes.
Replies wait in the citizen's outbound mailbox, retried with exponential backoff and
jitter, in order, and go out once Twilio answers again.
"""

from __future__ import annotations

import time

import pytest

from tests.faults.cluster import exactly_once, wait_until

OUTAGE_S = 4.0
THROTTLED_S = 2.0


@pytest.mark.reliability
@pytest.mark.timeout(300)
def test_provider_outage_replies_are_retried_and_delivered_once_in_order(
        make_cluster, reliability) -> None:
    cluster = make_cluster(SAMVAD_SEND_MAX_ATTEMPTS="12").start()
    asha, vikram = cluster.phone("+919876500101"), cluster.phone("+919876500102")
    asha.say("hi")

    cluster.twilio.refuse(503)
    started = time.monotonic()
    for text in ["English", "Asha", "1"]:
        asha.text(text)
    vikram.text("hi")
    # The turns ran; their replies wait for Twilio.
    wait_until(lambda: cluster.twilio.refused >= 4, 60, "the sends to be refused")
    assert len(asha.received()) == 1 and not vikram.received()
    while time.monotonic() - started < OUTAGE_S:
        time.sleep(0.2)
    cluster.twilio.refuse(429)
    time.sleep(THROTTLED_S)  # the outage's length, not a measurement
    cluster.twilio.refuse(None)

    wait_until(lambda: len(asha.received()) >= 4 and vikram.received()
               and cluster.settled("sms", asha.number)
               and cluster.settled("sms", vikram.number), 120, "the replies after the outage")
    bodies = "\n".join(asha.received())
    # In the order they were asked.
    assert (bodies.index("What is your name?") < bodies.index("Thank you, Asha.")
            < bodies.index("What is the problem about?"))
    assert "Choose your language" in vikram.received()[0]
    statuses = {status for _job, status, _sid in cluster.sql(
        "SELECT job_id, status, provider_message_id FROM channel_messages")}
    assert statuses <= {"queued", "sent"}, statuses
    counts = exactly_once(cluster, [asha, vikram])
    reliability.record(
        area="fault", case="provider outage (Twilio 503, then 429)",
        sent=f"2 citizens, 5 SMS while the fake Messages API answered 503 for {OUTAGE_S:.0f} s "
             f"then 429 for {THROTTLED_S:.0f} s (retry base 0.3 s: compressed minutes)",
        did=f"{cluster.twilio.refused} refused sends retried with exponential backoff and "
            "jitter; each citizen's replies held in order behind the first; all sent after "
            "recovery",
        lost=f"nothing: {counts['inbound']}/{counts['inbound']} messages answered, "
             f"{counts['replies']} replies each once, in order",
    )

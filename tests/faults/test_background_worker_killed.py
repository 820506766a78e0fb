"""The background worker is killed (SIGKILL) after Twilio accepted a reply but before the
worker saw Twilio's answer: the crash window of an outbound send.

The promise (channels/queues): never twice per job id; in this window at most once. The
job was marked ``sending`` before the call, so the restarted worker finds it so, records
it ``unknown`` and does not send it again. Here Twilio had accepted it, so the citizen got
the reply exactly once; had the request not reached Twilio, the reply would be lost (and
recorded ``unknown``): that is the price of never sending twice.
"""

from __future__ import annotations

import pytest

from tests.faults.cluster import jobs_of, wait_until


@pytest.mark.reliability
@pytest.mark.timeout(300)
def test_worker_killed_between_send_and_acknowledgement_sends_nothing_twice(
        make_cluster, reliability) -> None:
    cluster = make_cluster().start()
    phone = cluster.phone("+919876500081")
    assert "Choose your language" in phone.say("hi")

    cluster.twilio.hold()  # Twilio records the next message and never answers
    english = phone.text("English")
    wait_until(cluster.twilio.held.is_set, 60, "the reply to reach Twilio")
    cluster.kill_worker()
    cluster.twilio.release()
    job_id = f"{english}:0"
    assert cluster.redis.get(f"samvad:job:{job_id}") == b"sending"

    cluster.start_worker()
    # The dead worker's lease (30 s) and doorbell (45 s idle) run out; the new worker
    # takes the mailbox over and finds the job half-done.
    wait_until(lambda: cluster.settled("sms", phone.number), 150,
               "the restarted worker to take the mailbox over")
    assert cluster.redis.get(f"samvad:job:{job_id}") == b"unknown"
    records = {job: status for job, status, _sid in jobs_of(cluster, [english])}
    assert records == {job_id: "unknown"}
    asked_name = [body for body in phone.received() if "What is your name?" in body]
    assert len(asked_name) == 1  # reached Twilio once, not sent again

    # The conversation goes on with the new worker.
    assert "Thank you, Asha." in phone.say("Asha")
    rows = jobs_of(cluster, phone.sent)
    on_record = [sid for _job, _status, sid in rows if sid]
    at_twilio = [m.sid for m in cluster.twilio.to(phone.number)]
    # Every reply Twilio got was sent once: all are on record with their sid, but for the
    # one accepted in the crash window (recorded ``unknown``, without Twilio's sid).
    assert len(at_twilio) == len(set(at_twilio)) == len(on_record) + 1
    assert set(on_record) < set(at_twilio)
    assert [status for job, status, _sid in rows if job == job_id] == ["unknown"]
    assert {job.split(":", 1)[0] for job, _s, _p in rows} == set(phone.sent)
    exactly_once_counts = {"inbound": len(phone.sent), "replies": len(at_twilio)}
    reliability.record(
        area="fault", case="background worker killed between provider send and ack",
        sent="3 SMS of one citizen; the reply to the 2nd reached Twilio, then `samvad worker`"
             " was killed before Twilio's answer came back; a new worker started",
        did="the new worker took the mailbox over after the lease, found the job `sending`"
            " and recorded it `unknown` instead of sending again; later turns normal",
        lost=f"nothing here: {exactly_once_counts['inbound']}/3 messages answered, "
             f"{exactly_once_counts['replies']} replies, none twice. Known limit: at most "
             "once in this window: had the request not reached Twilio, that reply would be "
             "lost (recorded `unknown`, no provider sid)",
    )

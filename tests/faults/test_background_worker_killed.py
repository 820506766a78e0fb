"""The background worker is killed (SIGKILL) in the middle of sending a reply through
Twilio: after Twilio accepted it but before the worker saw Twilio's answer, or while the
request was still on its way (it never reached Twilio).

The promise (channels/queues): nothing lost, nothing twice where the provider can tell.
The job was marked ``sending:<time>`` before the call, so the restarted worker finds it
so once the dead worker's lease ran out, waits until the call has surely ended, and asks
Twilio's message list for it: found, it is settled with Twilio's sid and not sent again;
not found, it is sent (once).
"""

from __future__ import annotations

import time

import pytest

from tests.faults.cluster import jobs_of, wait_until


@pytest.mark.reliability
@pytest.mark.timeout(300)
@pytest.mark.parametrize("reached_twilio", [True, False], ids=["accepted", "never_reached"])
def test_worker_killed_while_sending_a_reply_loses_nothing_and_sends_nothing_twice(
        make_cluster, reliability, reached_twilio) -> None:
    cluster = make_cluster().start()
    phone = cluster.phone("+919876500081")
    assert "Choose your language" in phone.say("hi")

    cluster.twilio.hold(accept=reached_twilio)  # the next request is never answered
    english = phone.text("English")
    wait_until(cluster.twilio.held.is_set, 60, "the reply to reach Twilio")
    cluster.kill_worker()
    killed_at = time.monotonic()
    cluster.twilio.release()
    job_id = f"{english}:0"
    state_key = f"samvad:{{outbound:sms:{phone.number}}}:job:{job_id}"  # job_state_key
    assert cluster.redis.get(state_key).startswith(b"sending:")

    cluster.start_worker()
    # The dead worker's lease runs out; the new worker takes the mailbox over, finds the
    # job half-done and resolves it through Twilio's message list.
    wait_until(lambda: cluster.settled("sms", phone.number), 150,
               "the restarted worker to take the mailbox over")
    resolved_s = time.monotonic() - killed_at
    asked_name = [m for m in cluster.twilio.to(phone.number) if "What is your name?" in m.body]
    assert len(asked_name) == 1  # at Twilio once: found there, or sent now
    [(_job, status, sid)] = [row for row in jobs_of(cluster, [english]) if row[0] == job_id]
    assert (status, sid) == ("queued", asked_name[0].sid)
    assert cluster.redis.get(state_key) == f"sent:{sid}".encode()

    # The conversation goes on with the new worker.
    assert "Thank you, Asha." in phone.say("Asha")
    rows = jobs_of(cluster, phone.sent)
    on_record = [sid for _job, _status, sid in rows if sid]
    at_twilio = [m.sid for m in cluster.twilio.to(phone.number)]
    # Every reply reached Twilio once and is on record with Twilio's sid.
    assert len(at_twilio) == len(set(at_twilio)) == len(on_record) == len(rows)
    assert set(on_record) == set(at_twilio)
    assert {job.split(":", 1)[0] for job, _s, _p in rows} == set(phone.sent)
    how = ("Twilio had it: settled with its sid, not sent again" if reached_twilio
           else "Twilio did not have it: sent once")
    reliability.record(
        area="fault",
        case="background worker killed while sending a reply "
             + ("(Twilio accepted it)" if reached_twilio else "(request never reached Twilio)"),
        sent="3 SMS of one citizen; `samvad worker` was killed during the call that sent "
             "the reply to the 2nd; a new worker started",
        did="the new worker took the mailbox over once the lease ran out, found the job "
            "`sending`, waited for the call to have surely ended and asked Twilio's message "
            f"list: {how}; later turns normal",
        lost=f"nothing: {len(phone.sent)}/3 messages answered, {len(at_twilio)} replies, "
             f"none twice; reply resolved {resolved_s:.0f} s after the kill (the mailbox "
             "was free after the 5 s lease; the job waits until 15 s after its call began, "
             "the provider timeout)",
    )

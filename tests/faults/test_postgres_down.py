"""PostgreSQL is stopped (``pg_ctl -m immediate``: like a crash) for a while, then started.

Webhooks need only Redis: inbound messages are acknowledged once queued, and the turns
run. A turn that needs the core API tells the citizen at once that it could not be done
and that nothing they entered is lost, and keeps their place in the flow; once PostgreSQL
is back the same answer files the complaint, once. Status callbacks, which are written to
PostgreSQL, are answered 5xx so that the provider sends them again.
"""

from __future__ import annotations

import pytest

from tests.faults.cluster import wait_until

TO_CONFIRM = ["hi", "English", "Nisha", "1", "1", "1", "1", "rajpur", "1", "Light is off"]


@pytest.mark.reliability
@pytest.mark.timeout(300)
def test_postgres_down_acknowledges_inbound_and_files_once_after_it_returns(
        make_cluster, reliability) -> None:
    cluster = make_cluster().start()
    nisha = cluster.phone("+919876500111")
    for text in TO_CONFIRM:
        reply = nisha.say(text)
    assert "File it now?" in reply
    last_reply = cluster.twilio.to(nisha.number)[-1].sid

    cluster.pg.stop()
    try:
        assert cluster.http.get("/readyz?optional=workers,rasa").status_code == 503
        answer, sid = nisha.webhook("yes")
        assert answer.status_code == 200  # queued in Redis: acknowledged
        nisha.sent.append(sid)
        during = nisha.wait_settled(len(nisha.received()))
        text = "\n".join(during)
        assert "Nothing you entered is lost" in text
        assert "File it now?" in text  # still at the confirmation
        assert cluster.status_callback(last_reply, "delivered",
                               nisha.number).status_code >= 500  # Twilio calls again
    finally:
        cluster.pg.start()

    wait_until(lambda: cluster.http.get("/readyz?optional=workers,rasa").status_code == 200,
               60, "readiness")
    assert cluster.status_callback(last_reply, "delivered", nisha.number).status_code == 200
    filed = nisha.say("yes")
    assert "is filed" in filed
    assert len(cluster.complaints_of(nisha.number)) == 1
    delivered = cluster.sql("SELECT status FROM channel_messages WHERE provider_message_id=$1",
                            last_reply)
    assert delivered == [("delivered",)]
    # The reply sent while PostgreSQL was down went out, but its delivery record could
    # not be written (best effort): it is the one reply the record does not name.
    outage_jobs = [row for row in cluster.sql(
        "SELECT job_id FROM channel_messages WHERE job_id LIKE $1", f"{sid}:%")]
    sent_during = len(during)
    nisha.sent.remove(sid)
    counts = exactly_once_except(cluster, nisha, sid, sent_during)
    reliability.record(
        area="fault", case="PostgreSQL down (immediate stop) for a while",
        sent=f"a citizen at the complaint confirmation ({len(TO_CONFIRM)} SMS); PostgreSQL "
             "stopped; 'yes' sent, a status callback sent; PostgreSQL started; 'yes' again",
        did="webhook acknowledged (queued in Redis); the bot answered at once 'We could not "
            "do that just now. Nothing you entered is lost' and kept the confirmation; the "
            "status callback got 5xx (provider retries) and was recorded after; /readyz 503 "
            "while down",
        lost=f"no message: {counts['inbound'] + 1}/{counts['inbound'] + 1} answered, 1/1 "
             f"complaint filed once after recovery. The citizen must resend 'yes' (the turn "
             f"is answered, not replayed). The delivery record of the {sent_during} "
             f"reply(ies) sent during the outage was not written ({len(outage_jobs)} rows)",
    )


def exactly_once_except(cluster, phone, outage_sid: str, outage_replies: int):  # type: ignore[no-untyped-def]
    """``exactly_once`` but for the replies sent during the outage, which have no record."""
    rows = cluster.sql("SELECT job_id, provider_message_id FROM channel_messages "
                       "WHERE job_id IS NOT NULL")
    on_record = [sid for _job, sid in rows if sid]
    recorded = [m.sid for m in cluster.twilio.to(phone.number)]
    assert len(recorded) == len(set(recorded)) and len(on_record) == len(set(on_record))
    missing = [sid for sid in recorded if sid not in on_record]
    assert len(missing) == outage_replies  # exactly the outage replies lack a record
    assert set(on_record) <= set(recorded)
    answered = {job.split(":", 1)[0] for job, _sid in rows}
    assert set(phone.sent) <= answered and outage_sid not in answered
    return {"inbound": len(phone.sent), "replies": len(recorded)}

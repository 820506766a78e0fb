"""Twilio delivers a message twice at the same instant (two web workers), delivers an old
message again after newer ones, and sends status callbacks out of order and twice."""

from __future__ import annotations

import threading

import pytest

from tests.faults.cluster import exactly_once


@pytest.mark.reliability
@pytest.mark.timeout(300)
def test_duplicate_and_out_of_order_deliveries_and_callbacks(make_cluster, reliability) -> None:
    cluster = make_cluster().start()
    kiran = cluster.phone("+919876500121")

    # The same MessageSid twice, concurrently (each connection may reach either worker).
    answers: list[tuple[int, str | None]] = []
    start = threading.Barrier(2, timeout=30)
    sid = "SM" + "d" * 32

    def post() -> None:
        start.wait()
        answer, _ = kiran.webhook("hi", sid)
        answers.append((answer.status_code, answer.headers.get("X-Samvad-Ignored")))

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(answers, key=str) == sorted([(200, None), (200, "duplicate MessageSid")],
                                              key=str)
    kiran.sent.append(sid)
    assert "Choose your language" in "\n".join(kiran.wait_settled(0))

    # Out of order: "English", "Kiran", then a late copy of "English" and of "hi".
    english = kiran.text("English")
    kiran.wait_settled(1)
    assert "Thank you, Kiran." in kiran.say("Kiran")
    before = len(kiran.received())
    for old in (english, sid):
        answer, _ = kiran.webhook("late copy", old)
        assert answer.headers.get("X-Samvad-Ignored") == "duplicate MessageSid"
    assert "What is the problem about?" in kiran.say("1")  # the flow was not disturbed
    replies_to_late_copies = len(kiran.received()) - before - 1
    assert replies_to_late_copies == 0

    # Status callbacks of one reply, out of order and repeated.
    first = cluster.twilio.to(kiran.number)[0].sid
    for status, expected in [("delivered", "delivered"), ("sent", "delivered"),
                             ("queued", "delivered"), ("delivered", "delivered"),
                             ("read", "read"), ("delivered", "read")]:
        answer = cluster.status_callback(first, status, kiran.number)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"status": "recorded"}
        assert cluster.sql("SELECT status FROM channel_messages WHERE provider_message_id=$1",
                           first) == [(expected,)]
    # A callback racing its twin, and a status for a message nobody recorded yet.
    second = cluster.twilio.to(kiran.number)[1].sid
    twins: list[int] = []
    gate = threading.Barrier(2, timeout=30)

    def callback() -> None:
        gate.wait()
        twins.append(cluster.status_callback(second, "delivered", kiran.number).status_code)

    threads = [threading.Thread(target=callback) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert twins == [200, 200]
    rows = cluster.sql("SELECT job_id, status, delivered_at IS NOT NULL "
                       "FROM channel_messages WHERE provider_message_id=$1", second)
    assert len(rows) == 1 and rows[0][0] is not None and rows[0][1:] == ("delivered", True)
    # "failed" is final in the store: it is kept even after "delivered" (Twilio reports
    # failed for what it could not hand over, so it does not follow a real delivery).
    assert cluster.status_callback(second, "failed", kiran.number).status_code == 200
    assert cluster.status_callback(second, "delivered", kiran.number).status_code == 200
    rows = cluster.sql("SELECT status, delivered_at IS NOT NULL, failed_at IS NOT NULL "
                       "FROM channel_messages WHERE provider_message_id=$1", second)
    assert rows == [("failed", True, True)]

    counts = exactly_once(cluster, [kiran])
    reliability.record(
        area="fault", case="duplicated and out-of-order webhooks and status callbacks",
        sent="one SMS posted twice at the same instant; late copies of 2 earlier SMS after "
             "newer ones; status callbacks delivered→sent→queued→delivered→read→delivered, "
             "two identical callbacks at once, failed after delivered",
        did="one copy queued, the other answered 200 `duplicate MessageSid`; late copies "
            "ignored, the flow undisturbed; the status only moved up (delivered, then read; "
            "failed is final), one row per message",
        lost=f"nothing: {counts['inbound']}/{counts['inbound']} messages answered once, "
             f"{counts['replies']} replies each once, no reply to a repeat",
    )

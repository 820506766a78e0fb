"""Redis is killed (SIGKILL) and started again.

With ``appendonly yes`` (docker-compose and the manifests run Redis so) sessions, queued
messages and the consumer groups survive: a conversation goes on where it was and
messages queued while no worker ran are answered after the restart.

Without persistence everything in Redis is gone: the conversation restarts politely from
the menu, and the workers must make their consumer groups again (they used to keep
failing with NOGROUP until restarted).
"""

from __future__ import annotations

import pytest

from tests.faults.cluster import exactly_once, wait_until

TO_LOCALITY = ["hi", "English", "Ravi", "1", "1", "1", "1"]


@pytest.mark.reliability
@pytest.mark.timeout(300)
def test_redis_restart_with_appendonly_keeps_sessions_and_queued_messages(
        make_cluster, reliability) -> None:
    cluster = make_cluster(appendonly=True).start()
    ravi, meena = cluster.phone("+919876500091"), cluster.phone("+919876500092")
    for text in TO_LOCALITY:
        reply = ravi.say(text)
    assert "Type the name of the area" in reply
    meena.say("hi")

    # No worker runs: Meena's messages wait in her mailbox (acknowledged to Twilio).
    cluster.kill_worker()
    meena.text("English")
    meena.text("Meena")
    cluster.redis_server.kill()
    cluster.redis_server.start()
    assert cluster.redis.llen("samvad:{inbound:sms:+919876500092}:mailbox") == 2

    cluster.start_worker()
    wait_until(lambda: len(meena.received()) >= 3 and cluster.settled("sms", meena.number),
               90, "Meena's queued messages to be answered")
    answered = "\n".join(meena.received())
    assert answered.index("What is your name?") < answered.index("Thank you, Meena.")
    # Ravi's session survived: he is still asked for the area.
    assert "Did you mean one of these?" in ravi.say("rajpur")
    for text in ["1", "Light is off", "yes"]:
        reply = ravi.say(text)
    assert "is filed" in reply
    assert len(cluster.complaints_of(ravi.number)) == 1
    counts = exactly_once(cluster, [ravi, meena])
    reliability.record(
        area="fault", case="Redis killed and restarted (appendonly)",
        sent=f"citizen A mid-complaint ({len(TO_LOCALITY)} SMS), citizen B's 2 SMS queued "
             "while no worker ran; Redis SIGKILLed and restarted, then the worker",
        did="session, mailboxes and consumer groups reloaded from the append-only file; "
            "A went on at the area question and filed; B's queued messages answered in order",
        lost=f"nothing: {counts['inbound']}/{counts['inbound']} messages answered, "
             f"{counts['replies']} replies each once, 1/1 complaint filed once",
    )


@pytest.mark.reliability
@pytest.mark.timeout(300)
def test_redis_restart_without_persistence_restarts_the_conversation_politely(
        make_cluster, reliability) -> None:
    cluster = make_cluster(appendonly=False).start()
    ravi = cluster.phone("+919876500093")
    for text in TO_LOCALITY:
        reply = ravi.say(text)
    assert "Type the name of the area" in reply

    cluster.redis_server.kill()
    cluster.redis_server.start()  # empty: sessions, groups, dedupe marks are gone
    # Nothing of the conversation is left (the processes may have written a heartbeat or
    # made a stream again already, in the moment since the restart).
    left = [key.decode() for key in cluster.redis.scan_iter()]
    assert not [key for key in left if ravi.number in key], left

    # The workers make their consumer groups again and the citizen starts over politely:
    # he is known (PostgreSQL), so no onboarding, the menu in his language.
    restarted = ravi.say("rajpur", timeout=90)
    assert "How can we help you?" in restarted and "File a complaint" in restarted
    for text in ["1", "1", "1", "1", "rajpur", "1", "Light is off", "yes"]:
        reply = ravi.say(text)
    assert "is filed" in reply
    assert len(cluster.complaints_of(ravi.number)) == 1
    counts = exactly_once(cluster, [ravi])
    reliability.record(
        area="fault", case="Redis killed and restarted empty (no persistence)",
        sent=f"a citizen mid-complaint ({len(TO_LOCALITY)} SMS); Redis SIGKILLed, restarted "
             "empty; the citizen went on (9 SMS)",
        did="workers made their consumer groups again (fixed: they failed with NOGROUP until "
            "restarted); the lost session restarted at the menu in the citizen's language",
        lost=f"the unfinished conversation state (by design); messages: {counts['inbound']}/"
             f"{counts['inbound']} answered, {counts['replies']} replies each once, 1/1 "
             "complaint filed once",
    )

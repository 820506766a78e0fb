"""Employee notifications (bot.notifier): assignment, send-back, SLA warning and escalation,
each to the right people in their language, with the template kind the 24-hour window
uses; the citizen's own notification for the same status change stays as it was."""

from __future__ import annotations

from typing import Any

from bot.notifier import notifications_for
from tests.event_examples import example

NUMBER = "PG-UK-DDN-2026-000123"
DUE = "2026-11-26T12:30:00+00:00"  # 6:00 pm in Kolkata
GRO = {"user_id": 1, "phone": "+919876510001", "locale": "hi_IN"}
STATE_GRO = {"user_id": 9, "phone": "+919876519998", "locale": "en_IN"}


def _status(**changes: Any) -> dict[str, Any]:
    payload = {"complaint_id": NUMBER, "tenant_code": "uk.dehradun", "status": "PENDINGATLME",
               "previous_status": "PENDINGFORASSIGNMENT", "action": "ASSIGN", "comment": None,
               "citizen_phone": "+919876500001", "citizen_locale": "hi_IN",
               "assignee_user_id": 4, "assignee_phone": "+919876510002",
               "assignee_locale": "en_IN", "sla_due_at": DUE}
    return example("complaint.status_changed", **{**payload, **changes})


def _sent(topic: str, payload: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(n.phone, n.kind, n.message.text) for n in notifications_for("e1", topic, payload)]


def test_assignment_tells_the_assignee_and_the_citizen() -> None:
    citizen, lme = _sent("complaint.status_changed", _status())
    assert citizen == ("+919876500001", "complaint_update",
                       f"आपकी शिकायत {NUMBER} हमारे फ़ील्ड कर्मचारी को सौंप दी गई है।")
    assert lme == ("+919876510002", "task_assigned",
                   f"New task: complaint {NUMBER} is assigned to you, due by 26 Nov 2026, "
                   "6:00 pm. Send MENU to see your tasks.")
    # The GRO's reassignment (from PENDINGFORREASSIGNMENT) is an assignment too, in Hindi.
    [_, lme] = _sent("complaint.status_changed", _status(
        action="REASSIGN", previous_status="PENDINGFORREASSIGNMENT", assignee_locale="hi_IN"))
    assert lme[1] == "task_assigned" and "नया काम: शिकायत" in lme[2] and "26 नव॰ 2026" in lme[2]
    # Other moves tell no employee.
    resolved = _sent("complaint.status_changed", _status(status="RESOLVED", action="RESOLVE"))
    assert [kind for _phone, kind, _text in resolved] == ["complaint_update"]


def test_a_send_back_tells_the_gros_with_the_reason() -> None:
    sent = _sent("complaint.status_changed", _status(
        status="PENDINGFORREASSIGNMENT", action="REASSIGN", comment="Needs a new pole",
        assignee_user_id=None, assignee_phone=None, gros=[GRO, STATE_GRO, GRO]))
    assert [(phone, kind) for phone, kind, _ in sent] == [
        ("+919876500001", "complaint_update"), (GRO["phone"], "task_returned"),
        (STATE_GRO["phone"], "task_returned")]  # each GRO once
    assert sent[1][2] == (f"शिकायत {NUMBER} दोबारा सौंपने के लिए वापस आई है: Needs a new pole। "
                          "इसे सौंपने के लिए मेनू भेजें।")
    assert sent[2][2].startswith(f"Complaint {NUMBER} was sent back for reassignment: Needs")


def test_sla_warning_and_escalation_go_to_their_recipients() -> None:
    unassigned = example("complaint.sla_warning", complaint_id=NUMBER,
                         status="PENDINGFORASSIGNMENT", deadline=DUE, assignee_user_id=None,
                         assignee_name=None, recipients=[GRO, STATE_GRO])
    [(phone, kind, text), (_, _, english)] = _sent("complaint.sla_warning", unassigned)
    assert (phone, kind) == (GRO["phone"], "sla_warning")
    assert text == (f"याद दिलाना: शिकायत {NUMBER} अब तक किसी को सौंपी नहीं गई है; "
                    "समय-सीमा 26 नव॰ 2026, 6:00 pm।")
    assert english.startswith(f"Reminder: complaint {NUMBER} is still waiting to be assigned")
    assigned = {**unassigned, "status": "PENDINGATLME", "assignee_user_id": 4,
                "assignee_name": "Ramesh Negi",
                "recipients": [{"user_id": 4, "phone": "+919876510002", "locale": "en_IN"}]}
    assert _sent("complaint.sla_warning", assigned) == [(
        "+919876510002", "sla_warning",
        f"Reminder: complaint {NUMBER} is due by 26 Nov 2026, 6:00 pm. Please act on it soon.")]
    escalated = _sent("complaint.escalated", {**assigned, "recipients": [STATE_GRO]})
    assert escalated == [(STATE_GRO["phone"], "escalation",
                          f"Escalation: complaint {NUMBER} passed its deadline (26 Nov 2026, "
                          "6:00 pm). It is with Ramesh Negi.")]
    [(_, kind, text)] = _sent("complaint.escalated", {**unassigned, "recipients": [GRO]})
    assert kind == "escalation" and "अब तक सौंपी नहीं गई है" in text
    assert _sent("complaint.escalated", {**unassigned, "recipients": []}) == []

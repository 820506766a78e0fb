"""Employee notifications (bot.notifier): a new complaint (to its GROs), assignment,
send-back, re-routing to another department, SLA warning, escalation by levels with
reminders, and a certificate request waiting for approval (to the registrars), each to the
right people in their language, with the template kind the 24-hour window uses; the
citizen's own notification for the same status change stays as it was."""

from __future__ import annotations

from typing import Any

import pytest

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
    assert lme[1] == "task_assigned" and "नया काम: शिकायत" in lme[2] and "26 नवंबर 2026" in lme[2]
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
                    "समय-सीमा 26 नवंबर 2026, 6:00 pm।")
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
                          "6:00 pm). It is with Ramesh Negi. Escalation level 1.")]
    [(_, kind, text)] = _sent("complaint.escalated", {**unassigned, "recipients": [GRO]})
    assert kind == "escalation" and "अब तक सौंपी नहीं गई है" in text
    assert _sent("complaint.escalated", {**unassigned, "recipients": []}) == []


def test_a_new_complaint_tells_its_gros_with_type_place_and_deadline() -> None:
    created = example("complaint.created", complaint_id=NUMBER, status="PENDINGFORASSIGNMENT",
                      action="APPLY", type_code="StreetLightNotWorking", locality="Rajpur",
                      sla_due_at=DUE, citizen_phone="+919876500001", gros=[GRO, STATE_GRO, GRO],
                      type_names={"en": "Streetlight not working", "hi": "स्ट्रीट लाइट खराब है"},
                      locality_names={"en": "Rajpur", "hi": "राजपुर"})
    sent = notifications_for("e1", "complaint.created", created)
    assert [(n.phone, n.kind, n.details) for n in sent] == [
        (GRO["phone"], "new_complaint", ("complaint", NUMBER)),
        (STATE_GRO["phone"], "new_complaint", ("complaint", NUMBER))]  # each GRO once
    # Each GRO reads the type and the place in their own language.
    assert sent[0].message.text == (f"नई शिकायत {NUMBER}: स्ट्रीट लाइट खराब है, राजपुर। "
                                    "समय-सीमा 26 नवंबर 2026, 6:00 pm। इसे सौंपने के लिए मेनू भेजें।")
    assert sent[1].message.text == (f"New complaint {NUMBER}: Streetlight not working, "
                                    "Rajpur. Due by 26 Nov 2026, 6:00 pm. Send MENU to assign it.")
    # An event without names (an older publisher) still reads: the type code in words.
    [old] = notifications_for("e2", "complaint.created", {
        **created, "gros": [GRO], "type_names": None, "locality_names": None})
    assert "Street light not working, Rajpur" in old.message.text
    # The citizen is not told twice: complaint.status_changed (APPLY) is theirs.
    assert notifications_for("e1", "complaint.created", {**created, "gros": None}) == []


def test_a_recategorised_complaint_tells_the_new_departments_gros() -> None:
    moved = example("complaint.recategorised", complaint_id=NUMBER, status="PENDINGFORASSIGNMENT",
                    from_type_code="StreetLightNotWorking", type_code="GarbageNeedsTobeCleared",
                    locality="Rajpur", gros=[GRO, STATE_GRO], from_type_names=None,
                    type_names=None, locality_names=None)
    hindi, english = _sent("complaint.recategorised", moved)
    assert hindi == (GRO["phone"], "complaint_rerouted",
                     f"शिकायत {NUMBER} (Rajpur) की श्रेणी Street light not working से बदलकर "
                     "Garbage needs tobe cleared कर दी गई है, अब यह आपके विभाग के पास है। "
                     "इसे सौंपने के लिए मेनू भेजें।")
    assert english[2] == (f"Complaint {NUMBER} (Rajpur) was moved from Street light not "
                          "working to Garbage needs tobe cleared and is now with your "
                          "department. Send MENU to assign it.")


@pytest.mark.parametrize(("level", "name", "repeat", "locale", "says"), [
    (1, None, 0, "en_IN", "It is with Ramesh Negi. Escalation level 1."),
    (2, "ulb_admin", 0, "en_IN", "It is with Ramesh Negi. Escalation level 2: executive officer."),
    (2, "ulb_admin", 1, "en_IN", "It is with Ramesh Negi. Reminder 1, level 2: executive officer."),
    (3, "state_admin", 2, "hi_IN", "यह Ramesh Negi के पास है। याद दिलाना 2, स्तर 3: राज्य प्रशासक।"),
    (2, None, 4, "pa_IN", "ਇਹ Ramesh Negi ਕੋਲ ਹੈ। ਯਾਦ-ਦਹਾਨੀ 4, ਪੱਧਰ 2।"),
    (2, "district_officer", 0, "or_IN", "ଏସ୍କାଲେସନ୍ ସ୍ତର 2: district_officer।"),
])
def test_an_escalation_says_its_level_and_whether_it_is_a_reminder(
        level: int, name: str | None, repeat: int, locale: str, says: str) -> None:
    escalated = example("complaint.escalated", complaint_id=NUMBER, status="PENDINGATLME",
                        deadline=DUE, assignee_user_id=4, assignee_name="Ramesh Negi",
                        level=level, level_name=name, repeat=repeat,
                        recipients=[{**STATE_GRO, "locale": locale}])
    [(phone, kind, text)] = _sent("complaint.escalated", escalated)
    assert (phone, kind) == (STATE_GRO["phone"], "escalation")
    assert text.endswith(says), text


def test_a_paid_certificate_request_tells_the_registrars_in_their_language() -> None:
    registrar = {"user_id": 5, "phone": "+919876510005", "locale": "pa_IN"}
    waiting = example("certificate.status_changed", request_number="CR-DDN-2026-000004",
                      kind="birth", status="PENDINGAPPROVAL", action="PAY",
                      citizen_phone="+919876500001", citizen_locale="hi_IN",
                      approvers=[registrar, {**registrar, "user_id": 6, "phone": None}])
    citizen, told = notifications_for("e1", "certificate.status_changed", waiting)
    assert (citizen.phone, citizen.kind) == ("+919876500001", "certificate_update")
    assert (told.phone, told.kind, told.locale) == (registrar["phone"], "approval_needed",
                                                    "pa_IN")
    assert told.message.text == ("ਸਰਟੀਫਿਕੇਟ ਬੇਨਤੀ CR-DDN-2026-000004 (ਜਨਮ) ਦੀ ਫ਼ੀਸ ਜਮ੍ਹਾਂ ਹੋ ਗਈ "
                                 "ਹੈ ਅਤੇ ਇਹ ਤੁਹਾਡੀ ਮਨਜ਼ੂਰੀ ਦੀ ਉਡੀਕ ਵਿੱਚ ਹੈ। ਦੇਖਣ ਲਈ ਮੇਨੂ ਭੇਜੋ।")
    # Other moves of the request (rejected, issued) tell no registrar.
    rejected = notifications_for("e2", "certificate.status_changed",
                                 {**waiting, "status": "REJECTED"})
    assert [n.kind for n in rejected] == ["certificate_update"]

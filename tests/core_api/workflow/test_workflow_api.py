"""The workflow HTTP API: who sees a process, what they may do, and the transition call."""

from __future__ import annotations

from workflow_people import CITIZEN, HARIDWAR_LME, LME_ELECTRICAL, LME_SANITATION, OTHER_CITIZEN

from core_api.workflow import service

PROCESS = "/api/v1/workflow/processes/PGR/TEST-1"


async def file_test_complaint(session, people, business_id: str = "TEST-1") -> None:
    await service.start(session, business_service="PGR", business_id=business_id,
                        tenant_code="uk.dehradun", principal=await people.principal(CITIZEN),
                        owner_user_id=await people.id(CITIZEN), comment="Lamp post 14 dark")
    await session.commit()


async def test_visibility_and_available_actions(client, auth, session, people):
    await people.add_haridwar_staff()
    await file_test_complaint(session, people)

    owner = await client.get(PROCESS, headers=auth.service(CITIZEN))
    assert owner.status_code == 200, owner.text
    body = owner.json()
    assert (body["business_service"], body["business_id"], body["tenant_code"], body["state"],
            body["assignee_user_id"], body["escalated"], body["actions"]) == (
        "PGR", "TEST-1", "uk.dehradun", "PENDINGFORASSIGNMENT", None, False, [])
    assert body["state_sla_due_at"] is not None and body["sla_due_at"] is None
    assert [(h["action"], h["from_state"], h["to_state"], h["actor_role"], h["comment"])
            for h in body["history"]] == [
        ("APPLY", None, "PENDINGFORASSIGNMENT", "CITIZEN", "Lamp post 14 dark")]

    gro = await client.get(PROCESS, headers=await auth.staff("gro.dehradun"))
    assert gro.json()["actions"] == ["ASSIGN", "REJECT"]
    admin = await client.get(PROCESS, headers=await auth.staff("admin"))  # state-wide grant
    assert (admin.status_code, admin.json()["actions"]) == (200, [])
    lme = await client.get(PROCESS, headers=auth.service(LME_ELECTRICAL))  # staff via the bot
    assert (lme.status_code, lme.json()["actions"]) == (200, [])

    hidden = {
        "another citizen": auth.service(OTHER_CITIZEN),
        "an unregistered number": auth.service("+919812345678"),
        "staff of another ULB": auth.service(HARIDWAR_LME),
        "the bare service": auth.service(),
    }
    for name, headers in hidden.items():
        for response in (
            await client.get(PROCESS, headers=headers),
            await client.post(f"{PROCESS}/transition", headers=headers,
                              json={"action": "RATE"}),
        ):
            assert (response.status_code, response.json()["error"]["code"]) == (
                404, "not_found"), name
    assert (await client.get(PROCESS)).status_code == 401

    for url in ("/api/v1/workflow/processes/PGR/TEST-404",
                "/api/v1/workflow/processes/NOPE/TEST-1"):
        response = await client.get(url, headers=await auth.staff("gro.dehradun"))
        assert response.status_code == 404


async def test_transitions_over_http(client, auth, session, people, events):
    await file_test_complaint(session, people)
    lme_id = await people.id(LME_ELECTRICAL)
    registrar_id = await people.id("+919876510004")
    await session.commit()
    gro = await auth.staff("gro.dehradun")
    url = f"{PROCESS}/transition"

    refusals = [
        (gro, {"action": "ASSIGN", "assignee_id": registrar_id}, 400, "invalid_assignee"),
        (gro, {"action": "ASSIGN"}, 400, "assignee_required"),
        (gro, {"action": "REJECT"}, 400, "comment_required"),
        (gro, {"action": "RESOLVE"}, 409, "invalid_action"),
        (gro, {"action": "assign", "assignee_id": lme_id}, 409, "invalid_action"),
        (auth.service(CITIZEN), {"action": "ASSIGN", "assignee_id": lme_id}, 403,
         "action_forbidden"),
        (await auth.staff("lme.electrical.dehradun"), {"action": "ASSIGN", "assignee_id": lme_id},
         403, "action_forbidden"),
        (gro, {"action": "ASSIGN", "assignee_id": lme_id, "documents": ["a"] * 6}, 422,
         "validation_error"),
    ]
    for headers, body, status, code in refusals:
        response = await client.post(url, headers=headers, json=body)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), body
    conflict = await client.post(url, headers=gro, json={"action": "RESOLVE"})
    assert conflict.json()["error"]["details"] == {"state": "PENDINGFORASSIGNMENT",
                                                   "allowed": ["ASSIGN", "REJECT"]}
    assert await events(session, "TEST-1") == 1

    assigned = await client.post(url, headers=gro, json={
        "action": "ASSIGN", "assignee_id": lme_id, "comment": "Pole 14", "documents": ["f/1.jpg"]})
    assert assigned.status_code == 200, assigned.text
    body = assigned.json()
    assert (body["state"], body["assignee_user_id"], body["actions"], len(body["history"])) == (
        "PENDINGATLME", lme_id, [], 2)
    assert (body["history"][1]["assignee_user_id"], body["history"][1]["documents"]) == (
        lme_id, ["f/1.jpg"])

    lme = await client.get(PROCESS, headers=await auth.staff("lme.electrical.dehradun"))
    assert lme.json()["actions"] == ["RESOLVE", "REASSIGN"]
    other_lme = await client.post(url, headers=auth.service(LME_SANITATION),
                                  json={"action": "RESOLVE"})
    assert (other_lme.status_code, other_lme.json()["error"]["code"]) == (403, "not_assignee")
    resolved = await client.post(url, headers=await auth.staff("lme.electrical.dehradun"),
                                 json={"action": "RESOLVE", "comment": "Bulb replaced"})
    assert resolved.json()["state"] == "RESOLVED"

    # The citizen, through the bot, sees the new state and rates it.
    mine = await client.get(PROCESS, headers=auth.service(CITIZEN))
    assert mine.json()["actions"] == ["REOPEN", "RATE"]
    rated = await client.post(url, headers=auth.service(CITIZEN),
                              json={"action": "RATE", "comment": "5 stars"})
    assert (rated.json()["state"], rated.json()["actions"], len(rated.json()["history"])) == (
        "CLOSEDAFTERRESOLUTION", [], 4)
    ended = await client.post(url, headers=auth.service(CITIZEN),
                              json={"action": "REOPEN", "comment": "again"})
    assert (ended.status_code, ended.json()["error"]["details"]["allowed"]) == (409, [])
    assert await events(session, "TEST-1") == 4


async def test_business_services_for_staff(client, auth):
    response = await client.get("/api/v1/workflow/business-services",
                                headers=await auth.staff("registrar.dehradun"))
    assert response.status_code == 200
    by_code = {d["code"]: d for d in response.json()}
    assert {"PGR", "BND-CERT"} <= set(by_code)
    assert by_code["PGR"]["states"]["PENDINGFORASSIGNMENT"]["sla_hours"] == 24
    assert by_code["BND-CERT"]["states"]["PENDINGAPPROVAL"]["actions"]["APPROVE"]["roles"] == [
        "REGISTRAR"]
    citizen = await client.get("/api/v1/workflow/business-services",
                               headers=auth.service(CITIZEN))
    assert (citizen.status_code, citizen.json()["error"]["code"]) == (403, "staff_only")

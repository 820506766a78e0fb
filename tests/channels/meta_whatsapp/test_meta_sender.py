"""MetaSender against a local fake of the Graph API: exact JSON, templates, error table."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from bot.messages import Media, Option, Outgoing
from channels.base import OutboundJob, SendError, SendErrorKind, SendResult, outgoing_to_dict
from channels.meta_whatsapp import WINDOW_CLOSED_CODE, MetaSender, classify_status_error
from channels.queues import AMBIGUOUS, OUTSIDE_WINDOW_CODES, Template, with_template

TESTDATA = Path(__file__).resolve().parents[3] / "channels" / "meta_whatsapp" / "testdata"
BASE = "https://graph.fake"
TOKEN = "EAAG-test-token"
NUMBER_ID = "106540352242922"
URL = f"{BASE}/v21.0/{NUMBER_ID}/messages"
SENT_ID = "wamid.HBgMOTE5ODc2NTAwMDAxFQIAERgSMDZGMzQ1QUI3QTlCMzE0QjZEAA=="


def data(name: str) -> Any:
    return json.loads((TESTDATA / name).read_text())


class FakeGraph:
    """Records each request and answers from a script of (status, json) pairs."""

    def __init__(self, *answers: tuple[int, Any] | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        status, body = answer
        if isinstance(body, bytes):
            return httpx.Response(status, content=body)
        return httpx.Response(status, json=body)

    @property
    def bodies(self) -> list[Any]:
        return [json.loads(request.content) for request in self.requests]


def sender_for(graph: Callable[[httpx.Request], httpx.Response], **kwargs: Any,
               ) -> tuple[MetaSender, list[float]]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    http = httpx.AsyncClient(transport=httpx.MockTransport(graph))
    options = {"api_base": BASE + "/", "access_token": TOKEN, "phone_number_id": NUMBER_ID,
               **kwargs}
    return MetaSender(http, sleep=sleep, **options), slept


def job(message: Outgoing, **fields: Any) -> OutboundJob:
    return OutboundJob(provider="meta", channel="whatsapp", to="+919876500001",
                       message=outgoing_to_dict(message), job_id="wamid.in:0", **fields)


ENVELOPE = {"messaging_product": "whatsapp", "recipient_type": "individual",
            "to": "919876500001"}

SUCCESS_CASES = [
    ("text", job(Outgoing("Your complaint PG-DDN-2024-000123 is registered.")), {}, [{
        **ENVELOPE, "type": "text",
        "text": {"body": "Your complaint PG-DDN-2024-000123 is registered.",
                 "preview_url": False}}]),
    ("buttons", job(Outgoing("Is this correct?", options=(Option("yes", "हाँ"), Option(
        "no", "नहीं")))), {}, [{
            **ENVELOPE, "type": "interactive", "interactive": {
                "type": "button", "body": {"text": "Is this correct?"}, "action": {"buttons": [
                    {"type": "reply", "reply": {"id": "yes", "title": "हाँ"}},
                    {"type": "reply", "reply": {"id": "no", "title": "नहीं"}}]}}}]),
    ("list with the localized opener", job(Outgoing("कौन सी समस्या?", options=tuple(
        Option(f"c{i}", f"श्रेणी {i}") for i in range(4))), locale="hi_IN"), {}, [{
            **ENVELOPE, "type": "interactive", "interactive": {
                "type": "list", "body": {"text": "कौन सी समस्या?"}, "action": {
                    "button": "चुनें", "sections": [{"rows": [
                        {"id": f"c{i}", "title": f"श्रेणी {i}"} for i in range(4)]}]}}}]),
    ("template set by the queue", with_template(
        job(Outgoing("शिकायत PG-DDN-2024-000123 हल हो गई।\nकृपया रेटिंग दें:   1-5"),
            kind="complaint_update", locale="hi_IN"),
        Template("complaint_update_v1", "hi")), {"status": "queued"}, [{
            **ENVELOPE, "type": "template", "template": {
                "name": "complaint_update_v1", "language": {"code": "hi"}, "components": [{
                    "type": "body", "parameters": [{"type": "text", "text":
                        "शिकायत PG-DDN-2024-000123 हल हो गई। कृपया रेटिंग दें: 1-5"}]}]}}]),
    ("template with two variables", job(Outgoing("x"), params={
        "template": "receipt", "template_language": "en_US", "2": "PT-DDN-000045",
        "1": "₹1,250.00"}), {}, [{**ENVELOPE, "type": "template", "template": {
            "name": "receipt", "language": {"code": "en_US"}, "components": [{
                "type": "body", "parameters": [{"type": "text", "text": "₹1,250.00"},
                                               {"type": "text", "text": "PT-DDN-000045"}]}]}}]),
    ("template without variables", job(Outgoing("x"), params={"template": "hello"}), {},
     [{**ENVELOPE, "type": "template", "template": {"name": "hello",
                                                    "language": {"code": "en"}}}]),
]


@pytest.mark.parametrize(("case", "the_job", "result", "expected"), SUCCESS_CASES,
                         ids=[c[0] for c in SUCCESS_CASES])
async def test_sends_exactly_the_cloud_api_json(
    case: str, the_job: OutboundJob, result: dict[str, str], expected: list[Any]
) -> None:
    graph = FakeGraph((200, data("send_ok.json")))
    sender, _ = sender_for(graph)
    assert await sender.send(the_job) == SendResult(SENT_ID, **result)
    assert graph.bodies == expected
    for request in graph.requests:
        assert str(request.url) == URL
        assert request.method == "POST"
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        assert request.headers["content-type"] == "application/json"


async def test_media_and_prompt_go_as_two_messages_and_the_result_names_the_last() -> None:
    graph = FakeGraph((200, {"messages": [{"id": "wamid.first"}]}),
                      (200, {"messages": [{"id": "wamid.second"}]}))
    sender, _ = sender_for(graph)
    message = Outgoing("Pay now?", options=(Option("pay", "Pay"), Option("later", "Later")),
                       media=(Media("https://samvad.example/files/qr.png", "image/png"),))
    assert await sender.send(job(message)) == SendResult("wamid.second")
    assert [body["type"] for body in graph.bodies] == ["image", "interactive"]


ERROR_CASES = [
    ("pair rate limit", 400, data("error_131056.json"), SendErrorKind.THROTTLED, "131056"),
    ("throughput", 400, data("error_130429.json"), SendErrorKind.THROTTLED, "130429"),
    ("http 429 without a code", 429, b"", SendErrorKind.THROTTLED, "http_429"),
    ("outside the 24 h window", 400, data("error_131047.json"), SendErrorKind.REJECTED,
     WINDOW_CLOSED_CODE),
    ("undeliverable", 400, data("error_131026.json"), SendErrorKind.REJECTED, "131026"),
    ("invalid parameter", 400, data("error_100.json"), SendErrorKind.REJECTED, "100"),
    ("expired token", 401, data("error_190.json"), SendErrorKind.CONFIG, "190"),
    ("something went wrong", 500, data("error_131000.json"), SendErrorKind.CONNECTION,
     "131000"),
    ("gateway html", 502, b"<html>Bad Gateway</html>", SendErrorKind.CONNECTION, "http_502"),
    ("unknown code", 400, {"error": {"message": "new", "code": 999999}},
     SendErrorKind.REJECTED, "999999"),
]


@pytest.mark.parametrize(("case", "status", "body", "kind", "code"), ERROR_CASES,
                         ids=[c[0] for c in ERROR_CASES])
async def test_graph_errors_map_through_the_table(
    case: str, status: int, body: Any, kind: SendErrorKind, code: str
) -> None:
    graph = FakeGraph((status, body))
    sender, _ = sender_for(graph)
    with pytest.raises(SendError) as caught:
        await sender.send(job(Outgoing("hello")))
    assert (caught.value.kind, caught.value.code) == (kind, code)
    assert caught.value.retryable == (kind in (SendErrorKind.THROTTLED, SendErrorKind.CONNECTION))
    assert len(graph.requests) == 1


async def test_throttled_then_success_on_the_next_attempt() -> None:
    graph = FakeGraph((400, data("error_131056.json")), (200, data("send_ok.json")))
    sender, _ = sender_for(graph)
    the_job = job(Outgoing("hello"))
    with pytest.raises(SendError) as caught:
        await sender.send(the_job)
    assert caught.value.retryable
    assert await sender.send(the_job) == SendResult(SENT_ID)
    assert graph.bodies[0] == graph.bodies[1]


TRANSPORT_CASES = [
    (httpx.ConnectError("refused"), SendErrorKind.CONNECTION, "ConnectError", True),
    (httpx.ConnectTimeout("slow"), SendErrorKind.CONNECTION, "ConnectTimeout", True),
    # The request may have reached Meta: a retry could deliver it twice.
    (httpx.ReadTimeout("no answer"), SendErrorKind.CONNECTION, AMBIGUOUS, True),
    (httpx.RemoteProtocolError("dropped"), SendErrorKind.CONNECTION, AMBIGUOUS, True),
]


@pytest.mark.parametrize(("error", "kind", "code", "retryable"), TRANSPORT_CASES)
async def test_transport_failures_are_ambiguous_once_meta_may_have_the_message(
    error: Exception, kind: SendErrorKind, code: str, retryable: bool
) -> None:
    sender, _ = sender_for(FakeGraph(error))
    with pytest.raises(SendError) as caught:
        await sender.send(job(Outgoing("hello")))
    assert (caught.value.kind, caught.value.code, caught.value.retryable) == (
        kind, code, retryable)


TWO_PARTS = Outgoing("Receipt", options=(Option("menu", "Menu"),),
                     media=(Media("https://samvad.example/files/r.pdf", "application/pdf",
                                  "r.pdf"),))


async def test_a_later_part_is_retried_in_place_without_resending_earlier_parts() -> None:
    graph = FakeGraph((200, {"messages": [{"id": "wamid.doc"}]}),
                      (400, data("error_131056.json")),
                      (200, {"messages": [{"id": "wamid.menu"}]}))
    sender, slept = sender_for(graph)
    assert await sender.send(job(TWO_PARTS)) == SendResult("wamid.menu")
    assert [body["type"] for body in graph.bodies] == ["document", "interactive", "interactive"]
    assert slept == [1.0]


async def test_a_later_part_that_keeps_failing_is_final_so_the_job_is_not_resent() -> None:
    graph = FakeGraph((200, {"messages": [{"id": "wamid.doc"}]}),
                      (400, data("error_131056.json")))
    sender, slept = sender_for(graph)
    with pytest.raises(SendError) as caught:
        await sender.send(job(TWO_PARTS))
    assert (caught.value.kind, caught.value.code) == (SendErrorKind.REJECTED, "partial_131056")
    assert not caught.value.retryable
    assert [body["type"] for body in graph.bodies] == ["document"] + ["interactive"] * 3
    assert slept == [1.0, 2.0]


REFUSED_JOBS = [
    ("not configured", {"access_token": None}, job(Outgoing("x")), SendErrorKind.CONFIG,
     "not_configured"),
    ("sms job", {}, OutboundJob(provider="meta", channel="sms", to="+919876500001",
                                message=outgoing_to_dict(Outgoing("x"))),
     SendErrorKind.CONFIG, "unsupported_channel"),
    ("bad number", {}, OutboundJob(provider="meta", channel="whatsapp", to="not-a-number",
                                   message=outgoing_to_dict(Outgoing("x"))),
     SendErrorKind.REJECTED, "invalid_message"),
]


@pytest.mark.parametrize(("case", "options", "the_job", "kind", "code"), REFUSED_JOBS,
                         ids=[c[0] for c in REFUSED_JOBS])
async def test_jobs_meta_cannot_deliver_fail_before_any_request(
    case: str, options: dict[str, Any], the_job: OutboundJob, kind: SendErrorKind, code: str
) -> None:
    graph = FakeGraph((200, data("send_ok.json")))
    sender, _ = sender_for(graph, **options)
    with pytest.raises(SendError) as caught:
        await sender.send(the_job)
    assert (caught.value.kind, caught.value.code) == (kind, code)
    assert graph.requests == []


async def test_an_ambiguous_later_part_is_not_retried_in_place() -> None:
    graph = FakeGraph((200, {"messages": [{"id": "wamid.doc"}]}), httpx.ReadTimeout("lost"))
    sender, slept = sender_for(graph)
    with pytest.raises(SendError) as caught:
        await sender.send(job(TWO_PARTS))
    assert caught.value.code == AMBIGUOUS
    assert len(graph.requests) == 2 and slept == []


def test_the_window_code_is_one_the_queue_resends_as_a_template() -> None:
    assert WINDOW_CLOSED_CODE in OUTSIDE_WINDOW_CODES


async def test_from_settings_needs_a_token_and_a_number() -> None:
    async with httpx.AsyncClient() as http:
        configured = SimpleNamespace(whatsapp_api_base=BASE, whatsapp_access_token=TOKEN,
                                     whatsapp_phone_number_id=NUMBER_ID)
        sender = MetaSender.from_settings(configured, http, None)
        assert sender is not None and sender.messages_url == URL
        missing = SimpleNamespace(**{**vars(configured), "whatsapp_phone_number_id": None})
        assert MetaSender.from_settings(missing, http, None) is None


def test_failed_status_codes_use_the_same_table() -> None:
    assert classify_status_error("131047") is SendErrorKind.REJECTED
    assert classify_status_error("131056") is SendErrorKind.THROTTLED
    assert classify_status_error("190") is SendErrorKind.CONFIG
    assert classify_status_error("424242") is SendErrorKind.REJECTED
    assert classify_status_error(None) is None

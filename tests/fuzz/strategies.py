"""Hypothesis strategies shared by the fuzz tests: provider payloads and citizen input."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

PHONES = ("+919876500001", "+919876500002", "+919812345678", "+14155550100")
# Text a citizen (or an attacker) might send: scripts we serve, emoji, control characters,
# markup and SQL, digits in other scripts, very long runs.
NASTY = ("", " ", "\x00", "\u200b", "\ufeff", "🙏🙏", "<script>alert(1)</script>",
         "'; DROP TABLE users; --", "१२३", "੧", "୧", "9" * 40, "x" * 1200, "{name}", "%s",
         "STOP", "start", "menu", "back", "help", "language", "1", "2", "9", "0", "yes", "no",
         "हाँ", "नमस्ते", "ਹਾਂ", "ହଁ", "street light broken", "pay my bill", "track complaint")

any_text = st.one_of(st.sampled_from(NASTY), st.text(max_size=60),
                     st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), any_text)
any_json = st.recursive(
    json_leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=10), inner, max_size=3)),
    max_leaves=8,
)


def mostly(strategy: st.SearchStrategy[Any], right: int = 7) -> st.SearchStrategy[Any]:
    """The right shape ``right`` times in ``right + 1``, anything JSON otherwise (a payload
    has dozens of fields: mutating each rarely still breaks most payloads somewhere)."""
    return st.sampled_from([True] * right + [False]).flatmap(
        lambda keep: strategy if keep else any_json)


# ----------------------------------------------------------------------------- Twilio

def _number_text() -> st.SearchStrategy[str]:
    return st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(str),
                     st.integers(-1000, 1000).map(str), any_text)


twilio_address = st.one_of(
    st.sampled_from(PHONES), st.sampled_from(PHONES).map(lambda p: f"whatsapp:{p}"),
    st.sampled_from(("messenger:123", "rcs:+919876500001", "whatsapp:", "sms:9876500001",
                     "9876500001", "+91", "whatsapp:abc")),
    any_text)

twilio_form = st.fixed_dictionaries(
    {"Body": any_text,
     "MessageSid": mostly(st.just("SM" + "a" * 32), right=5).map(str),
     "From": mostly(st.sampled_from(PHONES).flatmap(
         lambda p: st.sampled_from((p, f"whatsapp:{p}"))), right=3).flatmap(
         lambda a: st.one_of(st.just(str(a)), twilio_address) if not isinstance(a, str)
         else st.just(a))},
    optional={
        "SmsMessageSid": any_text,
        "To": twilio_address,
        "NumMedia": mostly(st.sampled_from(("0", "1", "2", "11")), right=5).map(str),
        "MediaUrl0": st.one_of(st.just("https://api.twilio.com/2010-04-01/m/ME1"), any_text),
        "MediaContentType0": st.one_of(
            st.sampled_from(("image/jpeg", "audio/ogg", "video/mp4", "text/vcard",
                             "application/pdf", "")), any_text),
        "MediaUrl1": any_text,
        "Address": any_text,
        "Label": any_text,
        "ButtonPayload": any_text,
        "ButtonText": any_text,
        "ListId": any_text,
        "ListTitle": any_text,
        "MessageType": st.sampled_from(("text", "text", "text", "reaction", "sticker",
                                        "location", "button", "interactive", "x")),
        "MessageStatus": mostly(st.just("received")).map(str).flatmap(
            lambda s: st.sampled_from((s, "received", "receiving", "delivered", "failed", ""))),
        "SmsStatus": mostly(st.just("received")).map(str),
        "ProfileName": any_text,
        "WaId": any_text,
        "ErrorCode": any_text,
    },
).flatmap(lambda known: st.tuples(
    st.dictionaries(st.text(max_size=12), any_text, max_size=3),
    st.one_of(st.just({}), st.fixed_dictionaries({"Latitude": _number_text(),
                                                  "Longitude": _number_text()}),
              st.fixed_dictionaries({"Latitude": _number_text()}))).map(
    lambda extra: {**extra[0], **extra[1], **known}))


# ------------------------------------------------------------------------------- Meta

wa_id = st.one_of(st.sampled_from([p.lstrip("+") for p in PHONES]), any_text)
timestamp = mostly(st.one_of(st.integers(0, 2**40).map(str), st.integers(-2**70, 2**70),
                             st.floats(allow_nan=True, allow_infinity=True),
                             st.sampled_from(("1e999", "-1e999", "nan", "inf", "1700000000"))))
MESSAGE_TYPES = ("text", "interactive", "button", "location", "image", "document", "audio",
                 "video", "sticker", "contacts", "unsupported", "reaction", "system",
                 "request_welcome", "order")


@st.composite
def meta_message(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from((*MESSAGE_TYPES, "text", "text", "interactive", "location")))
    body: dict[str, Any] = {
        "text": {"body": draw(mostly(any_text))},
        "interactive": {"type": draw(mostly(st.sampled_from(("button_reply", "list_reply",
                                                              "nfm_reply")))),
                        "button_reply": draw(mostly(st.fixed_dictionaries(
                            {"id": mostly(any_text), "title": mostly(any_text)}))),
                        "list_reply": draw(mostly(st.fixed_dictionaries(
                            {"id": mostly(any_text), "title": mostly(any_text)})))},
        "button": {"payload": draw(mostly(any_text)), "text": draw(mostly(any_text))},
        "location": {"latitude": draw(mostly(st.floats(-200, 200))),
                     "longitude": draw(mostly(st.floats(-200, 200))),
                     "name": draw(mostly(any_text)), "address": draw(mostly(any_text))},
        "contacts": draw(mostly(st.lists(any_json, max_size=2))),
        "errors": draw(mostly(st.lists(st.fixed_dictionaries({"code": any_json}), max_size=2))),
    }.get(kind, {"id": draw(mostly(any_text)), "mime_type": draw(mostly(any_text)),
                 "caption": draw(mostly(any_text)), "filename": draw(mostly(any_text))})
    message = {"from": draw(mostly(st.sampled_from([p.lstrip("+") for p in PHONES]))),
               "id": draw(mostly(st.text(min_size=1, max_size=40).map(lambda t: "wamid." + t))),
               "type": kind, "timestamp": draw(timestamp), kind: body}
    if draw(st.booleans()):
        message["context"] = draw(mostly(st.fixed_dictionaries({"id": any_text})))
    return draw(mostly(st.just(message)))


meta_status = mostly(st.fixed_dictionaries(
    {"id": mostly(any_text),
     "status": mostly(st.sampled_from(("sent", "delivered", "read", "failed", "deleted"))),
     "recipient_id": mostly(wa_id), "timestamp": timestamp},
    optional={"errors": mostly(st.lists(mostly(st.fixed_dictionaries(
        {"code": any_json, "title": any_json})), max_size=2))}))

meta_value = mostly(st.fixed_dictionaries(
    {"messaging_product": st.just("whatsapp"),
     "metadata": mostly(st.fixed_dictionaries({
         "display_phone_number": mostly(any_text),
         "phone_number_id": st.sampled_from(("1234567890", "1234567890", "1234567890", "999"))
         })),
     "messages": mostly(st.lists(meta_message(), min_size=1, max_size=3))},
    optional={
        "contacts": mostly(st.lists(mostly(st.fixed_dictionaries(
            {"wa_id": mostly(wa_id), "profile": mostly(st.fixed_dictionaries(
                {"name": mostly(any_text)}))})), max_size=2)),
        "statuses": mostly(st.lists(meta_status, min_size=1, max_size=3)),
        "errors": mostly(st.lists(any_json, max_size=2)),
    }))

meta_envelope = mostly(st.fixed_dictionaries({
    "object": mostly(st.just("whatsapp_business_account")),
    "entry": mostly(st.lists(mostly(st.fixed_dictionaries({
        "id": any_text,
        "changes": mostly(st.lists(mostly(st.fixed_dictionaries({
            "field": st.sampled_from(("messages", "messages", "messages", "account_update")),
            "value": meta_value})), min_size=1, max_size=2)),
    })), min_size=1, max_size=2)),
}))


# ------------------------------------------------------------------------ citizen turns

location = st.fixed_dictionaries({"lat": st.floats(-90, 90), "lng": st.floats(-180, 180)})
media = st.fixed_dictionaries({
    "url": st.sampled_from(("https://example.org/a.jpg", "http://127.0.0.1/x", "file:///etc/x")),
    "content_type": st.sampled_from(("image/jpeg", "image/png", "audio/ogg", "application/pdf",
                                     "video/mp4", "text/plain")),
})
sim_turn = st.one_of(
    st.fixed_dictionaries({"text": any_text}),
    # option_id: at most 256 characters, as POST /simulator/messages documents (422 beyond).
    st.fixed_dictionaries({"text": any_text, "option_id": any_text.map(lambda s: s[:256])}),
    st.fixed_dictionaries({"location": location}),
    st.fixed_dictionaries({"media": st.lists(media, min_size=1, max_size=2)},
                          optional={"text": any_text}),
    st.fixed_dictionaries({"kind": st.sampled_from(("sticker", "audio", "video", "document"))}),
)

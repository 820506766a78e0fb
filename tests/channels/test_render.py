"""Renderers: SMS segments and text, Twilio WhatsApp text, Meta payloads, simulator, replies."""

from __future__ import annotations

import pytest

from bot.channel_kinds import UnknownChannel
from bot.messages import Media, Option, Outgoing
from channels.render import (
    BODY_MAX,
    BUTTON_TITLE_MAX,
    FOOTER_MAX,
    LIST_ROW_DESCRIPTION_MAX,
    LIST_ROW_TITLE_MAX,
    TEXT_MAX,
    TWILIO_BODY_MAX,
    SmsCount,
    option_from_reply,
    render_meta,
    render_simulator,
    render_sms,
    render_whatsapp_text,
    sms_segments,
)

HINDI = ("शिकायत दर्ज करें " * 10)[:100]  # Devanagari letters, matras and spaces
PDF = Media("https://s.example/r/AB12.pdf", "application/pdf", "receipt-AB12.pdf")
PHOTO = Media("https://s.example/f/x9", "image/jpeg")


def opts(*labels: str) -> tuple[Option, ...]:
    return tuple(Option(f"o{number}", label) for number, label in enumerate(labels, start=1))


def numbered(count: int) -> tuple[Option, ...]:
    return opts(*(f"Ward {number}" for number in range(1, count + 1)))


# --- SMS segments -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ("GSM-7", 0, 0)),
        ("a" * 160, ("GSM-7", 160, 1)),
        ("a" * 161, ("GSM-7", 161, 2)),
        ("a" * 306, ("GSM-7", 306, 2)),
        ("a" * 307, ("GSM-7", 307, 3)),
        ("@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà\r\n", ("GSM-7", 44, 1)),
        ("€" * 80, ("GSM-7", 160, 1)),  # extension characters count twice
        ("{" + "a" * 159, ("GSM-7", 161, 2)),
        ("[~]|^\\", ("GSM-7", 12, 1)),
        # 306 septets would fill two parts, but the escape pair of € cannot straddle one.
        ("a" * 152 + "€" + "a" * 152, ("GSM-7", 306, 3)),
        ("façade", ("UCS-2", 6, 1)),  # GSM has Ç but not ç
        ("₹100", ("UCS-2", 4, 1)),
        (HINDI[:70], ("UCS-2", 70, 1)),
        (HINDI[:71], ("UCS-2", 71, 2)),
        (HINDI[:67] * 2, ("UCS-2", 134, 2)),
        (HINDI[:67] * 2 + "क", ("UCS-2", 135, 3)),
        ("ਸਤ ਸ੍ਰੀ ਅਕਾਲ", ("UCS-2", 12, 1)),
        ("ନମସ୍କାର", ("UCS-2", 7, 1)),
        ("👍", ("UCS-2", 2, 1)),  # one emoji is a surrogate pair
        ("a" * 69 + "👍", ("UCS-2", 71, 2)),
        # 134 units would fill two parts, but a surrogate pair cannot straddle one.
        ("a" * 66 + "👍" + "a" * 66, ("UCS-2", 134, 3)),
        ("Hello नमस्ते", ("UCS-2", 12, 1)),
    ],
)
def test_sms_segments(text: str, expected: tuple[str, int, int]) -> None:
    assert sms_segments(text) == SmsCount(*expected)


# --- SMS text -----------------------------------------------------------------------------

BILLS = (
    Option("bill:1", "Property tax", "₹12,345.00 due 31 Mar"),
    Option("bill:2", "Water", "₹480.00 due 15 Apr"),
)


@pytest.mark.parametrize(
    ("msg", "menu_hint", "expected"),
    [
        (Outgoing("Namaste!"), None, "Namaste!"),
        (
            Outgoing("Choose a category:", options=opts("Streetlight", "Garbage")),
            "0 Menu, 9 Back",
            "Choose a category:\n1. Streetlight\n2. Garbage\n0 Menu, 9 Back",
        ),
        (  # descriptions fit the budget; ₹, ’ and · become GSM look-alikes
            Outgoing("Rahul’s bills:", options=BILLS, footer="Reply 1-2 · 0 Menu"),
            None,
            "Rahul's bills:\n1. Property tax - Rs.12,345.00 due 31 Mar\n"
            "2. Water - Rs.480.00 due 15 Apr\nReply 1-2 - 0 Menu",
        ),
        (  # Hindi is UCS-2 anyway: ₹ and quotes stay
            Outgoing("आपके बिल ‘अभी’:", options=(Option("p", "भुगतान करें", "₹480"),)),
            None,
            "आपके बिल ‘अभी’:\n1. भुगतान करें - ₹480",
        ),
        (  # with descriptions this would need 4 segments: they are left out
            Outgoing("x" * 430, options=BILLS),
            None,
            "x" * 430 + "\n1. Property tax\n2. Water",
        ),
        (
            Outgoing("Payment received.", media=(PDF,), options=opts("Main menu"), footer="0 Menu"),
            "0 Menu",  # same as the footer: said once
            "Payment received.\nhttps://s.example/r/AB12.pdf\n1. Main menu\n0 Menu",
        ),
        (Outgoing("Type your locality:", request_location=True), None, "Type your locality:"),
        (
            Outgoing("  Pick:\n", options=opts("Rajpur\nRoad", "ISBT  area")),
            None,
            "Pick:\n1. Rajpur Road\n2. ISBT area",
        ),
    ],
)
def test_render_sms(msg: Outgoing, menu_hint: str | None, expected: str) -> None:
    assert render_sms(msg, menu_hint=menu_hint) == expected


@pytest.mark.parametrize(("text", "ellipsis"), [("word " * 400, "..."), ("शब्द " * 400, "…")])
def test_render_sms_shortens_only_the_text_to_twilio_limit(text: str, ellipsis: str) -> None:
    body = render_sms(Outgoing(text, options=numbered(3)), menu_hint="0 Menu")
    assert len(body) <= TWILIO_BODY_MAX
    lines = body.split("\n")
    assert lines[0].endswith(ellipsis)
    assert text.startswith(lines[0].removesuffix(ellipsis))
    assert lines[1:] == ["1. Ward 1", "2. Ward 2", "3. Ward 3", "0 Menu"]


def test_render_whatsapp_text_numbers_options_and_leaves_media_to_the_sender() -> None:
    msg = Outgoing(
        "*Your bills*",
        options=(*BILLS, Option("menu", "Main menu")),
        media=(PDF,),
        footer="Reply with a number",
        request_location=True,
    )
    assert render_whatsapp_text(msg, menu_hint="0 Menu") == (
        "*Your bills*\n"
        "1. Property tax - _₹12,345.00 due 31 Mar_\n"
        "2. Water - _₹480.00 due 15 Apr_\n"
        "3. Main menu\n"
        "_Reply with a number_\n"
        "_0 Menu_"
    )


# --- Meta WhatsApp Cloud API -------------------------------------------------------------


def interactive(payload: dict) -> dict:
    assert payload["type"] == "interactive"
    return payload["interactive"]


@pytest.mark.parametrize(
    ("to", "digits"),
    [
        ("+919876500001", "919876500001"),
        ("whatsapp:+919876500001", "919876500001"),
        ("+91 98765-00001", "919876500001"),
        ("919876500001", "919876500001"),
    ],
)
def test_meta_envelope_has_digits_only_recipient(to: str, digits: str) -> None:
    [payload] = render_meta(Outgoing("Hi"), to)
    assert payload == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": digits,
        "type": "text",
        "text": {"body": "Hi", "preview_url": False},
    }


@pytest.mark.parametrize("to", ["", "+91 98765 0000x", "whatsapp:", "+९१९८७६५०००"])
def test_meta_rejects_what_is_not_a_number(to: str) -> None:
    with pytest.raises(ValueError, match="phone number"):
        render_meta(Outgoing("Hi"), to)


@pytest.mark.parametrize(
    ("text", "footer", "body", "preview"),
    [
        ("Pay here: https://pay.example/p/1", None, "Pay here: https://pay.example/p/1", True),
        ("Visit www.example.gov.in", "0 Menu", "Visit www.example.gov.in\n0 Menu", True),
        ("No links.", "0 Menu", "No links.\n0 Menu", False),
    ],
)
def test_meta_text_message(text: str, footer: str | None, body: str, preview: bool) -> None:
    [payload] = render_meta(Outgoing(text, footer=footer), "+919876500001")
    assert payload["text"] == {"body": body, "preview_url": preview}


def test_meta_text_longer_than_whatsapp_allows_is_split_at_line_ends() -> None:
    lines = [f"{n}. " + "कचरा नहीं उठा " * 12 for n in range(1, 41)]  # ~6 600 characters
    payloads = render_meta(Outgoing("\n".join(lines)), "+919876500001")
    bodies = [payload["text"]["body"] for payload in payloads]
    assert len(bodies) == 2
    assert all(len(body) <= TEXT_MAX for body in bodies)
    assert [line.strip() for line in "\n".join(bodies).split("\n")] == [
        line.strip() for line in lines
    ]


@pytest.mark.parametrize("count", [1, 2, 3])
def test_meta_up_to_three_options_are_reply_buttons(count: int) -> None:
    msg = Outgoing("Confirm?", options=numbered(count), footer="0 Menu")
    [payload] = render_meta(msg, "+919876500001")
    assert interactive(payload) == {
        "type": "button",
        "body": {"text": "Confirm?"},
        "footer": {"text": "0 Menu"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": f"o{n}", "title": f"Ward {n}"}}
                for n in range(1, count + 1)
            ]
        },
    }


@pytest.mark.parametrize("count", [4, 10])
def test_meta_four_to_ten_options_are_a_list(count: int) -> None:
    msg = Outgoing("Choose your ward:", options=numbered(count), list_button="वार्ड चुनें")
    [payload] = render_meta(msg, "+919876500001", list_button="Choose")
    assert interactive(payload) == {
        "type": "list",
        "body": {"text": "Choose your ward:"},
        "action": {
            "button": "वार्ड चुनें",  # the message's own label wins over the caller's default
            "sections": [
                {"rows": [{"id": f"o{n}", "title": f"Ward {n}"} for n in range(1, count + 1)]}
            ],
        },
    }


def test_meta_more_than_ten_options_fall_back_to_numbered_text() -> None:
    msg = Outgoing("Choose your ward:", options=numbered(11), footer="0 Menu")
    [payload] = render_meta(msg, "+919876500001")
    lines = payload["text"]["body"].split("\n")
    assert payload["type"] == "text"
    assert lines == ["Choose your ward:", *(f"{n}. Ward {n}" for n in range(1, 12)), "0 Menu"]
    # ... and the typed number picks the option.
    assert option_from_reply("11", msg.options) == msg.options[10]


def test_meta_list_button_falls_back_to_callers_default() -> None:
    msg = Outgoing("Choose:", options=numbered(4))
    [payload] = render_meta(msg, "+919876500001", list_button="A label longer than twenty")
    assert interactive(payload)["action"]["button"] == "A label longer than…"


@pytest.mark.parametrize(
    ("label", "title"),
    [
        ("Exactly twenty chars", "Exactly twenty chars"),
        ("Streetlight not working", "Streetlight not working"),  # whole, in a list row
        # A cut never leaves a consonant without its vowel sign (है -> ह).
        ("स्ट्रीट लाइट खराब है कृपया जल्दी", "स्ट्रीट लाइट खराब है कृ…"),
        # ... nor a virama without the consonant it joins.
        ("Pothole on xxxxxxxxxxxx क्षेत्र", "Pothole on xxxxxxxxxxxx…"),
    ],
)
def test_meta_titles_are_whole_in_buttons_or_rows_and_cut_cleanly(label: str, title: str) -> None:
    [payload] = render_meta(Outgoing("Pick", options=opts(label, "Other")), "+919876500001")
    action = interactive(payload)["action"]
    if len(label) <= BUTTON_TITLE_MAX:
        got = action["buttons"][0]["reply"]["title"]
    else:  # a label a button would cut goes to a list row instead
        got = action["sections"][0]["rows"][0]["title"]
    assert got == title
    assert len(got) <= LIST_ROW_TITLE_MAX


def test_meta_long_labels_show_whole_in_list_descriptions() -> None:
    labels = ("Garbage not collected in my street", "Garbage not collected in the market", "Other")
    [payload] = render_meta(Outgoing("Which one?", options=opts(*labels)), "+919876500001")
    body = interactive(payload)
    # Both garbage labels cut to the same button title, which WhatsApp rejects: a list;
    # there they cut to the same row title too, so the rows are numbered.
    assert body["type"] == "list"
    assert body["action"]["button"] == "Choose"
    assert body["action"]["sections"][0]["rows"] == [
        {"id": "o1", "title": "1. Garbage not collecte…", "description": labels[0]},
        {"id": "o2", "title": "2. Garbage not collecte…", "description": labels[1]},
        {"id": "o3", "title": "3. Other"},
    ]


def test_meta_list_rows_cut_titles_and_descriptions() -> None:
    where = "Dehradun Municipal Corporation, zone 3, ward 41"
    options = (
        Option("l1", "Rajpur Road, Dehradun Municipal Corporation"),
        Option("l2", "Rajpur", f"{where}, near the clock tower"),
        Option("l3", "ISBT", f"{where}, behind the bus stand and the railway station"),
        Option("l4", "Clock Tower"),
    )
    [payload] = render_meta(Outgoing("Did you mean?", options=options), "+919876500001")
    rows = interactive(payload)["action"]["sections"][0]["rows"]
    assert rows == [
        {"id": "l1", "title": "Rajpur Road, Dehradun M…", "description": options[0].label},
        {"id": "l2", "title": "Rajpur", "description": options[1].description},
        {
            "id": "l3",
            "title": "ISBT",
            "description": f"{where}, behind the bus stand a…",
        },
        {"id": "l4", "title": "Clock Tower"},
    ]
    assert all(len(row["title"]) <= LIST_ROW_TITLE_MAX for row in rows)
    assert len(rows[2]["description"]) == LIST_ROW_DESCRIPTION_MAX


def test_meta_long_text_goes_ahead_as_text_and_long_footer_into_the_body() -> None:
    paragraphs = [f"Line {n}:" + " details" * 20 for n in range(12)]  # ~2 000 characters
    footer = "Reply with the number of your choice, or 0 to see the main menu"
    assert len(footer) > FOOTER_MAX
    msg = Outgoing("\n".join(paragraphs), options=numbered(2), footer=footer)
    *texts, last = render_meta(msg, "+919876500001")
    body = interactive(last)
    assert [payload["type"] for payload in texts] == ["text"]
    assert "footer" not in body
    assert len(body["body"]["text"]) <= BODY_MAX
    assert body["body"]["text"].endswith(footer)
    # Split at a line end, nothing lost.
    assert texts[0]["text"]["body"] + "\n" + body["body"]["text"] == msg.text + "\n" + footer


def test_meta_location_request_carries_numbered_options() -> None:
    msg = Outgoing(
        "Share your location, or type your locality.",
        options=(Option("skip", "Type instead"),),
        request_location=True,
    )
    [payload] = render_meta(msg, "+919876500001")
    assert interactive(payload) == {
        "type": "location_request_message",
        "body": {"text": "Share your location, or type your locality.\n1. Type instead"},
        "action": {"name": "send_location"},
    }


@pytest.mark.parametrize(
    ("msg", "expected"),
    [
        (  # one document, no question: the text is its caption
            Outgoing("Receipt for ₹480.00", media=(PDF,)),
            [("document", {"link": PDF.url, "caption": "Receipt for ₹480.00",
                           "filename": "receipt-AB12.pdf"})],
        ),
        (  # the file name comes from the URL when not given; no text, no caption
            Outgoing("", media=(Media("https://s.example/c/cert-7.pdf", "application/pdf"),)),
            [("document", {"link": "https://s.example/c/cert-7.pdf", "filename": "cert-7.pdf"})],
        ),
        (  # a photo before the question, so the buttons stay last
            Outgoing("Is this the place?", media=(PHOTO,), options=opts("Yes", "No")),
            [("image", {"link": PHOTO.url}), ("interactive", None)],
        ),
        (  # several media after the text
            Outgoing("Your receipts:", media=(PDF, PHOTO)),
            [
                ("text", {"body": "Your receipts:", "preview_url": False}),
                ("document", {"link": PDF.url, "filename": "receipt-AB12.pdf"}),
                ("image", {"link": PHOTO.url}),
            ],
        ),
        (  # audio cannot carry a caption
            Outgoing("Listen", media=(Media("https://s.example/a.ogg", "audio/ogg"),)),
            [("text", {"body": "Listen", "preview_url": False}),
             ("audio", {"link": "https://s.example/a.ogg"})],
        ),
    ],
)
def test_meta_media(msg: Outgoing, expected: list[tuple[str, dict | None]]) -> None:
    payloads = render_meta(msg, "+919876500001")
    assert [payload["type"] for payload in payloads] == [kind for kind, _ in expected]
    for payload, (kind, body) in zip(payloads, expected, strict=True):
        if body is not None:
            assert payload[kind] == body


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ((Option("x" * 257, "Yes"),), "1-256"),
        (tuple(Option("x" * 201, f"Row {n}") for n in range(4)), "1-200"),
        ((Option("same", "Yes"), Option("same", "No")), "used twice"),
        ((Option(" pad", "Yes"),), "unpadded"),
        ((Option("ok", "  "),), "empty label"),
    ],
)
def test_meta_rejects_option_ids_whatsapp_would_refuse(
    options: tuple[Option, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        render_meta(Outgoing("Pick", options=options), "+919876500001")


# --- Typed replies ------------------------------------------------------------------------

CATEGORIES = (
    Option("streetlight", "Streetlight"),
    Option("garbage", "Garbage"),
    Option("drain", "नाली जाम"),
)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("2", "garbage"),
        (" 2. ", "garbage"),
        ("2)", "garbage"),
        ("२", "garbage"),  # Devanagari
        ("੨", "garbage"),  # Gurmukhi
        ("୨", "garbage"),  # Odia
        ("２", "garbage"),  # full-width
        ("3", "drain"),
        ("GARBAGE", "garbage"),
        ("  streetlight ", "streetlight"),
        ("नाली  जाम", "drain"),
        ("0", None),
        ("4", None),
        ("४", None),
        ("²", None),  # a superscript is no answer
        ("garbag", None),  # near misses are the NLU's job
        ("2 garbage", None),
        ("", None),
    ],
)
def test_option_from_reply(reply: str, expected: str | None) -> None:
    option = option_from_reply(reply, CATEGORIES)
    assert (option.id if option else None) == expected


# --- Simulator ----------------------------------------------------------------------------


def test_render_simulator_for_both_channels() -> None:
    msg = Outgoing("Payment received.", media=(PDF,), options=opts("Main menu", "Pay another"))
    sms = render_simulator(msg, "sms", menu_hint="0 Menu")
    assert sms == {
        "text": "Payment received.",
        "rendered": "Payment received.\nhttps://s.example/r/AB12.pdf\n"
        "1. Main menu\n2. Pay another\n0 Menu",
        "sms": {"encoding": "GSM-7", "units": 81, "segments": 1},
        "options": [{"id": "o1", "label": "Main menu"}, {"id": "o2", "label": "Pay another"}],
        "media": [{"url": PDF.url, "content_type": "application/pdf",
                   "filename": "receipt-AB12.pdf"}],
        "request_location": False,
    }
    whatsapp = render_simulator(msg, "whatsapp", to="+919876500001")
    assert whatsapp["rendered"] == render_meta(msg, "+919876500001")
    assert {key: whatsapp[key] for key in ("text", "options", "media", "request_location")} == {
        key: sms[key] for key in ("text", "options", "media", "request_location")
    }
    assert "sms" not in whatsapp
    anonymous = render_simulator(Outgoing("Hi", request_location=True), "whatsapp")
    assert anonymous["request_location"] is True
    assert anonymous["rendered"][0]["to"] == ""
    with pytest.raises(UnknownChannel, match="telegram"):
        render_simulator(msg, "telegram")

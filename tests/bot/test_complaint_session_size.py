"""A citizen's session stays under 1 KB while filing a complaint, in the heaviest case:
Hindi (three bytes a letter), WhatsApp (ten-row lists), a Twilio media link, a long
description, and every list the flow can show (categories, types, cities, "did you mean",
the city's areas in pages)."""

from __future__ import annotations

from typing import Any

import httpx

from bot.session import Session
from bot.session_store import conversation_key

CITIZEN = "+919876500001"  # Hindi demo citizen
SESSION_LIMIT = 1024
TWILIO_MEDIA = ("https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef"
                "/Messages/MM0123456789abcdef0123456789abcdef/Media/ME0123456789abcdef01234567"
                "89abcdef")
DESCRIPTION = ("मंदिर वाली गली में खंभे के पास कूड़े का ढेर पूरे हफ़्ते से पड़ा है, बहुत बदबू आती "
               "है और बच्चे बीमार हो रहे हैं")

TURNS: list[tuple[dict[str, Any], str]] = [
    ({"text": "नमस्ते"}, "menu"),
    ({"text": "1"}, "category"),
    ({"text": "कूड़ा-कचरा"}, "subtype"),
    ({"text": "1"}, "how_where"),
    ({"text": "2"}, "city"),
    ({"text": "देहरादून"}, "ask_locality"),
    ({"text": "raajpur"}, "pick_place"),
    ({"text": "3"}, "ask_locality"),  # none of these
    ({"text": "xyzq"}, "pick_area"),  # not found twice: the city's areas
    ({"option_id": "more"}, "pick_area"),
    ({"text": "राजपुर"}, "ask_photo"),
    ({"media": [{"url": TWILIO_MEDIA, "content_type": "image/jpeg"}]}, "ask_description"),
    ({"text": DESCRIPTION}, "confirm"),
]


async def test_a_session_mid_complaint_stays_under_one_kilobyte(
        client: httpx.AsyncClient, app: Any, redis_client: Any) -> None:
    key = app.state.conversations.store.keys(conversation_key("whatsapp", CITIZEN)).session
    sizes: dict[str, int] = {}
    for message, step in TURNS:
        response = await client.post("/simulator/messages",
                                     json={"from": CITIZEN, "channel": "whatsapp", **message})
        assert response.status_code == 200, response.text
        assert response.json()["step"] == step, (message, response.json())
        session = Session.loads(await redis_client.get(key))
        assert session is not None
        sizes[step] = max(sizes.get(step, 0), len(session.dumps()))
    after_description = sizes["confirm"]
    print(f"session bytes by step: {sizes}")  # shown with -s, for the record
    assert after_description <= SESSION_LIMIT, sizes
    assert max(sizes.values()) <= SESSION_LIMIT, sizes
    assert session.slots["photos"] == [TWILIO_MEDIA]
    assert session.slots["head"] + session.slots["rest"] == DESCRIPTION  # stored once, whole

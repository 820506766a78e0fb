"""`samvad chat`: typed lines become inbound messages; a real run over SMS in Hindi."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from channels.console.chat import parse_line


def test_typed_lines_become_inbound_messages():
    location = parse_line("/loc 30.3780 78.0890", "whatsapp", "+919876500001")
    assert location is not None and location.kind == "location"
    assert (location.location.lat, location.location.lng) == (30.378, 78.089)
    photo = parse_line("/photo http://127.0.0.1/p.jpg", "whatsapp", "+919876500001")
    assert photo is not None and photo.media[0].content_type == "image/jpeg"
    words = parse_line("नमस्ते", "sms", "+919876500001", "hi_IN")
    assert words is not None and words.text == "नमस्ते" and words.extra == {"locale": "hi_IN"}
    assert parse_line("/quit", "sms", "+919876500001") is None


def test_chat_runs_a_hindi_sms_conversation_in_a_terminal(tmp_path: Path):
    env = {**os.environ, "SAMVAD_DATA_DIR": str(tmp_path), "COLUMNS": "120"}
    for key in ("SAMVAD_DATABASE_URL", "SAMVAD_REDIS_URL"):
        env.pop(key, None)
    samvad = [sys.executable, "-m", "samvad.cli"]
    for args in (["db", "upgrade"], ["seed", "--demo"]):
        subprocess.run([*samvad, *args], env=env, check=True, capture_output=True, timeout=120)
    result = subprocess.run(
        [*samvad, "chat", "--channel", "sms", "--phone", "+919876500099", "--lang", "hi"],
        input="नमस्ते\n1\nगीता\n7\n/quit\n", env=env, capture_output=True, text=True,
        timeout=120, check=True,
    )
    assert "हिंदी में बात करें?" in result.stdout
    assert "1. हाँ" in result.stdout  # SMS rendering: numbered options
    assert "धन्यवाद, गीता।" in result.stdout
    assert "संवाद पर आप" in result.stdout  # option 7 of the menu: help

"""The Rasa peer's project and turns, without starting Rasa (that is the benchmark's job:
``python -m bench.rasa_peer check`` verifies a served peer answers the script as expected).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from bench import rasa_peer

ROOT = rasa_peer.ROOT
PEER = ROOT / rasa_peer.PEER


def _rules() -> list[dict]:
    return yaml.safe_load((PEER / "data" / "rules.yml").read_text(encoding="utf-8"))["rules"]


def test_the_peer_project_is_bot_rasa_with_the_peer_rules_and_replies():
    texts = rasa_peer.project_texts()
    config, domain = yaml.safe_load(texts["config.yml"]), yaml.safe_load(texts["domain.yml"])
    bot_config = yaml.safe_load((ROOT / "bot" / "rasa" / "config.yml").read_text())
    bot_domain = yaml.safe_load((ROOT / "bot" / "rasa" / "domain.yml").read_text())
    assert config["pipeline"] == bot_config["pipeline"]  # the same NLU work as Samvad's Rasa
    assert [p["name"] for p in config["policies"]] == ["RulePolicy"]
    assert set(bot_domain["intents"]) < set(domain["intents"])
    assert set(bot_domain["responses"]) < set(domain["responses"])
    assert rasa_peer.data_dirs()[0] == ROOT / "bot" / "rasa" / "data"

    intents = set(domain["intents"]) | {"nlu_fallback"}
    for rule in _rules():
        for step in rule["steps"]:
            assert step.get("intent", "nlu_fallback") in intents, rule["rule"]
            assert step.get("action", "utter_default") in domain["responses"], rule["rule"]
    peer_nlu = yaml.safe_load((PEER / "data" / "nlu.yml").read_text(encoding="utf-8"))["nlu"]
    assert {block["intent"] for block in peer_nlu if "intent" in block} <= intents
    # no action server: every action a rule names is a plain response
    assert "action_endpoint" not in ((yaml.safe_load((PEER / "endpoints.yml").read_text()))
                                     or {})
    assert "rest" in yaml.safe_load((PEER / "credentials.yml").read_text())


def test_the_script_covers_the_menu_turns_with_replies_rasa_can_say():
    domain = yaml.safe_load(rasa_peer.project_texts()["domain.yml"])
    assert {step.kind for step in rasa_peer.SCRIPT} == {"menu", "language", "complaint",
                                                        "track", "bill"}
    assert {name for step in rasa_peer.SCRIPT for name in step.replies} <= set(domain["responses"])
    conversations = rasa_peer.rasa_conversations(3, prefix="t")
    assert len({c.sender for c in conversations}) == 3
    for conversation in conversations:
        assert len(conversation.turns) == len(rasa_peer.SCRIPT)
        for request, step in zip(conversation.turns, rasa_peer.SCRIPT, strict=True):
            assert (request.method, request.path) == ("POST", "/webhooks/rest/webhook")
            assert json.loads(request.body) == {"sender": conversation.sender,
                                                "message": step.text}
            assert request.expect == tuple(domain["responses"][n][0]["text"]
                                           for n in step.replies)
    pairs = rasa_peer.rasa_requests(2, prefix="t")
    assert [sender for sender, _ in pairs] == ["t-000000", "t-000001"]


def test_the_builder_gives_http_requests_from_the_citizen_number():
    build = rasa_peer.builder(5123)
    raw = build(SimpleNamespace(phone="+919700000001"), rasa_peer.SCRIPT[9])
    head, body = raw.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /webhooks/rest/webhook HTTP/1.1"
    assert "Host: 127.0.0.1:5123" in lines
    assert f"Content-Length: {len(body)}" in lines
    assert json.loads(body) == {"sender": "+919700000001", "message": "नमस्ते"}


@pytest.mark.parametrize(("body", "ok"), [
    (b'[{"recipient_id": "a", "text": "How can we help you?"}]', True),
    (b'[{"recipient_id": "a", "text": "x"}, {"recipient_id": "a", "text": "y"}]', True),
    (b"[]", False),
    (b'[{"recipient_id": "a", "image": "http://x"}]', False),
    (b'{"text": "not a list"}', False),
    (b"<html>", False),
])
def test_an_answered_turn_is_a_non_empty_list_of_texts(body, ok):
    assert rasa_peer.reply_ok(body) is ok


def _copy_project(to: Path) -> Path:
    shutil.copytree(ROOT / "bot" / "rasa", to / "bot" / "rasa",
                    ignore=shutil.ignore_patterns("models"))
    shutil.copytree(PEER, to / rasa_peer.PEER, ignore=shutil.ignore_patterns("models"))
    return to


def test_the_model_is_named_after_what_it_is_trained_from(tmp_path):
    root = _copy_project(tmp_path)
    name = rasa_peer.model_path(root).name
    assert name == rasa_peer.model_path(ROOT).name  # content, not location
    rules = root / rasa_peer.PEER / "data" / "rules.yml"
    rules.write_text(rules.read_text() + "\n# changed\n")
    assert rasa_peer.model_path(root).name != name
    renamed = rasa_peer.model_path(root).name
    nlu = root / "bot" / "rasa" / "data" / "nlu.yml"
    nlu.write_text(nlu.read_text() + "\n# changed\n")
    assert rasa_peer.model_path(root).name not in (name, renamed)


def test_a_trained_model_is_reused_and_a_missing_rasa_is_named(tmp_path):
    root = _copy_project(tmp_path)
    with pytest.raises(FileNotFoundError, match="make rasa"):
        rasa_peer.ensure_model(root)  # no .venv-rasa under tmp_path
    model = rasa_peer.model_path(root)
    model.parent.mkdir(parents=True)
    model.write_bytes(b"trained")
    assert rasa_peer.ensure_model(root) == model
    assert model.read_bytes() == b"trained"


def test_several_workers_need_a_shared_redis(tmp_path):
    with pytest.raises(ValueError, match="redis_url"):
        rasa_peer.start_rasa_peer(tmp_path, 1, tmp_path / "m.tar.gz", workers=2)
    path = rasa_peer.endpoints_file(tmp_path, redis_url="redis://127.0.0.1:6390/2")
    stores = yaml.safe_load(path.read_text())
    assert stores["tracker_store"] == {"type": "redis", "url": "127.0.0.1", "port": 6390, "db": 2}
    assert stores["lock_store"]["type"] == "redis"


def test_each_option_number_has_its_own_regex_feature():
    # Rasa's count vectors read "1" and "2" both as __NUMBER__: only these tell them apart.
    import re

    nlu = yaml.safe_load((PEER / "data" / "nlu.yml").read_text(encoding="utf-8"))["nlu"]
    patterns = {b["regex"]: [line.strip()[2:] for line in b["examples"].splitlines()
                             if line.strip()] for b in nlu if "regex" in b}
    for n in range(8):
        for text in (f"{n}", f" {n}.", f"option {n}", f"Number {n}"):
            matched = [name for name, found in patterns.items()
                       if any(re.search(p, text, re.IGNORECASE) for p in found)]
            assert matched == [f"menu_number_{n}"], text
    intents = {b["intent"] for b in nlu if "intent" in b}
    assert intents == {"main_menu", *(f"option_{n}" for n in range(1, 8))}

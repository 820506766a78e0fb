"""The Rasa NLU adapter against a real Rasa server, and the NLU evaluation.

The server is Rasa from .venv-rasa serving the model `make rasa` trained from bot/rasa/,
started once per run on a free 127.0.0.1 port. The evaluation runs the held-out set
(tests/bot/nlu_eval/heldout.yml, never in the training data) through the bot's reading
with Rasa (``RasaNLU`` with the built-in matcher as fallback), through the built-in matcher
alone, through the dialog engine (first message -> flow and complaint type), and through
``rasa test nlu``; it fails below the targets and writes every figure to
tests/artifacts/nlu_eval.json.

Without .venv-rasa or the model the server tests are skipped locally and fail in CI.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from bot.engine import MENU_FLOW, Engine, ServiceError
from bot.messages import Inbound
from bot.nlu import KeywordMatcher, Understanding, intent_keywords, normalize
from bot.nlu_eval import (
    STYLES,
    Example,
    Scores,
    read_examples,
    seed_complaint_types,
    split_path,
)
from bot.rasa_nlu import RasaNLU
from bot.rasa_project import (
    PROJECT_DIR,
    RASA_ENV,
    REPO_DIR,
    model_path,
    project_files,
    rasa_executable,
)
from bot.session import Session
from bot.slices import load_slices

HELDOUT = split_path("heldout")
ARTIFACT = REPO_DIR / "tests" / "artifacts" / "nlu_eval.json"
SEED = REPO_DIR / "core_api" / "seed" / "data"
INTENT_TARGET = 0.93  # issue 20: Rasa (with the matcher standing by) >= 93 % on held-out
STYLE_TARGET = 0.90  # and no language far behind
TYPE_TARGET = 0.80
RAW_TARGET = 0.90  # `rasa test nlu`: the model alone, nothing standing by
STYLE_LOCALES = {"en": "en_IN", "hi": "hi_IN", "hinglish": "hi_IN", "pa": "pa_IN",
                 "or": "or_IN"}
STARTUP_S = 300.0  # loading TensorFlow and the model: ~30 s idle, minutes on a busy machine
EVAL_TIMEOUT_S = 30.0  # the evaluation measures understanding; latency has its own tests


# ------------------------------------------------------------------------------ data


def seed_locality_names() -> set[str]:
    data = yaml.safe_load((SEED / "boundaries.yaml").read_text(encoding="utf-8"))
    return {locality["name_en"] for ulb in data["ulbs"] for zone in ulb["zones"]
            for ward in zone["wards"] for locality in ward["localities"]}


@pytest.fixture(scope="module")
def matcher() -> KeywordMatcher:
    return KeywordMatcher(seed_complaint_types())


def test_heldout_set_is_fair_and_the_project_matches_the_seed_data():
    heldout = read_examples(HELDOUT)
    dev = read_examples(split_path("dev"))
    training = [e for path in project_files() if path.parent.name == "data"
                for e in read_examples(path)]
    assert len(heldout) >= 300 and len(heldout) + len(dev) >= 400
    domain = yaml.safe_load((PROJECT_DIR / "domain.yml").read_text(encoding="utf-8"))
    for split in (heldout, dev):
        styles = Counter(e.style for e in split)
        assert set(styles) == set(STYLES) and min(styles.values()) >= 30, styles
        for style in STYLES:  # every intent in every style (chatter is not measured)
            assert {e.intent for e in split if e.style == style} == set(domain["intents"]) - {
                "out_of_scope"}, style
    # Nothing measured was learnt: no held-out line is a training example, a keyword of an
    # intent (locales/*/nlu.yaml) or of a complaint type (the seed catalogue), or a dev line.
    seen = {normalize(e.text) for e in training + dev}
    seen |= {phrase for phrases in intent_keywords().values() for phrase in phrases}
    seen |= {normalize(word) for item in seed_complaint_types()
             for words in [*item["keywords"].values(), list(item["names"].values())]
             for word in words}
    assert not [e.text for e in heldout if normalize(e.text) in seen]
    codes = {t["code"] for t in seed_complaint_types()}
    gold = {e.complaint_type for e in heldout if e.complaint_type}
    assert gold <= codes and len(gold) >= 30
    assert {e.complaint_type for e in training if e.complaint_type} == codes
    responses = {key.removeprefix("utter_file_complaint/") for key in domain["responses"]}
    assert responses == codes | {"none"}
    # The locality lookup knows every seed locality; no example names a place that is not one.
    localities = yaml.safe_load((PROJECT_DIR / "data" / "localities.yml").read_text("utf-8"))
    lookup = next(b for b in localities["nlu"] if b.get("lookup") == "locality")["examples"]
    assert seed_locality_names() <= {line[2:] for line in lookup.splitlines()}


# -------------------------------------------------- adapter decisions (canned answers)


def rasa_answer(intent: str, confidence: float, *, entities: list[dict[str, Any]] = (),
                selected: tuple[str, float] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"text": "", "intent": {"name": intent, "confidence": confidence},
                            "entities": list(entities)}
    if selected:
        body["response_selector"] = {"file_complaint": {"response": {
            "intent_response_key": f"file_complaint/{selected[0]}", "confidence": selected[1]}}}
    return body


def canned(body: dict[str, Any] | None, status: int = 200) -> httpx.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/model/parse" and json.loads(request.content)["text"]
        return httpx.Response(status, json=body)
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


MAPPED = {"entity": "complaint_type", "value": "StrayDogs", "confidence_entity": 0.99,
          "processors": ["EntitySynonymMapper"]}


@pytest.mark.parametrize(("body", "status", "text", "expected"), [
    # confident: Rasa's intent; the selector's type; the locality entity as given
    (rasa_answer("file_complaint", 0.97, selected=("PotHoles", 0.8), entities=[
        {"entity": "locality", "value": "Rajpur", "confidence_entity": 0.9}]),
     200, "gaddhe everywhere", Understanding("file_complaint", 0.97,
                                             {"locality": "Rajpur", "complaint_type": "PotHoles"},
                                             "rasa")),
    # the selector unsure: the synonym-mapped entity names the type
    (rasa_answer("file_complaint", 0.9, entities=[MAPPED], selected=("Others", 0.1)),
     200, "kutte", Understanding("file_complaint", 0.9, {"complaint_type": "StrayDogs"}, "rasa")),
    # neither: the built-in matcher reads the span Rasa tagged
    (rasa_answer("file_complaint", 0.9, entities=[
        {"entity": "complaint_type", "value": "kachra pada", "confidence_entity": 0.8}]),
     200, "ugh kachra pada", Understanding("file_complaint", 0.9,
                                          {"complaint_type": "GarbageNeedsTobeCleared"}, "rasa")),
    # a confident "none": a complaint that names no type (the citizen picks one)
    (rasa_answer("file_complaint", 0.99, selected=("none", 0.9)),
     200, "complaint about kachra", Understanding("file_complaint", 0.99, {}, "rasa")),
    # middling, the matcher disagrees: ask "did you mean ...?"
    (rasa_answer("pay_bill", 0.6), 200, "something vague",
     Understanding("pay_bill", 0.6, {}, "rasa", confirm=True)),
    # middling, the matcher reads the same intent: no need to ask
    (rasa_answer("pay_bill", 0.6), 200, "water bill", Understanding("pay_bill", 0.6, {}, "rasa")),
    # unsure, Rasa's own fallback, an error, garbage: the built-in answer
    (rasa_answer("pay_bill", 0.3), 200, "shikayat dekho", "builtin"),
    (rasa_answer("nlu_fallback", 0.4), 200, "hello", "builtin"),
    (rasa_answer("out_of_scope", 0.99), 200, "namaste", "builtin"),
    (None, 500, "meri raseed", "builtin"),
    ({"unexpected": True}, 200, "stop", "builtin"),
])
async def test_the_adapter_decides_by_confidence(matcher, body, status, text, expected):
    if expected == "builtin":
        expected = matcher.understand_now(text, None)
        assert expected.source == "builtin" and expected.intent is not None
    async with canned(body, status) as http:
        nlu = RasaNLU(http, "http://rasa.test", matcher)
        assert await nlu.understand(text, None) == expected
        assert nlu.complaint_type("kachra") == matcher.complaint_type("kachra")


@pytest.mark.parametrize(("body", "text", "options"), [
    # Odia Rasa half-knows, read as "yes": a complaint with a negation is no answer
    (rasa_answer("affirm", 0.54), "ଆମ ଗଳିରେ ପାଣି ଆସୁନାହିଁ", {}),
    (rasa_answer("deny", 0.9), "ਗਲੀ ਦੀ ਲਾਈਟ ਨਹੀਂ ਜਗਦੀ", {}),
    # an intent never taught in the text's script is a guess
    (rasa_answer("pay_bill", 0.95), "ਬਿੱਲ ਭਰਨਾ ਹੈ",
     {"trained": {"latin": frozenset({"pay_bill"})}}),
    # each script has its own lowest confidence
    (rasa_answer("help", 0.6), "ସାହାଯ୍ୟ କରନ୍ତୁ", {"low": {"latin": 0.45, "odia": 0.7}}),
])
async def test_rasa_cannot_override_the_matcher_where_it_is_unsure(matcher, body, text,
                                                                   options):
    async with canned(body) as http:
        nlu = RasaNLU(http, "http://rasa.test", matcher, **options)
        assert await nlu.understand(text, None) == matcher.understand_now(text, None)
    async with canned(rasa_answer("deny", 0.9)) as http:  # a real "no" is Rasa's to read
        nlu = RasaNLU(http, "http://rasa.test", matcher)
        assert (await nlu.understand("ਨਹੀਂ ਜੀ", None)).source == "rasa"


async def test_the_runtime_uses_rasa_only_when_configured():
    from types import SimpleNamespace

    from bot.core_client import CoreClient
    from bot.runtime import BuiltinNLU
    from samvad.dialog import build_nlu

    async with httpx.AsyncClient() as http:
        client = CoreClient(http, "token", {})
        plain = SimpleNamespace(state=SimpleNamespace(settings=SimpleNamespace(rasa_url=None)))
        assert isinstance(build_nlu(plain, client), BuiltinNLU)
        rasa_app = SimpleNamespace(state=SimpleNamespace(
            settings=SimpleNamespace(rasa_url="http://127.0.0.1:5005/")))
        nlu = build_nlu(rasa_app, client)
        assert isinstance(nlu, RasaNLU) and isinstance(nlu.fallback, BuiltinNLU)
        assert nlu.parse_url == "http://127.0.0.1:5005/model/parse"
        await nlu.aclose()


# ----------------------------------------------------------------- the real server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require_rasa() -> Path:
    """The trained model, or a skip (locally) / failure (CI) saying how to build it."""
    model = model_path()
    missing = [str(p.relative_to(REPO_DIR)) for p in (rasa_executable(), model) if not p.exists()]
    if missing:
        message = f"Rasa NLU is not built ({', '.join(missing)} missing): run `make rasa`"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return model


class RasaServer:
    """``rasa run --enable-api`` on a free port; stop() and start() again at will."""

    def __init__(self, model: Path, workdir: Path) -> None:
        self.model = model
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        log = (self.workdir / "rasa.log").open("ab")
        self.process = subprocess.Popen(
            [str(rasa_executable()), "run", "--enable-api", "-i", "127.0.0.1", "-p", str(port),
             "--model", str(self.model)],
            cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, **RASA_ENV, "RASA_MAX_CACHE_SIZE": "0"})
        log.close()
        deadline = time.monotonic() + STARTUP_S
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = (self.workdir / "rasa.log").read_text(errors="replace")[-3000:]
                pytest.fail(f"Rasa did not come up on {self.url}:\n{tail}", pytrace=False)
            time.sleep(0.5)  # readiness poll while TensorFlow loads, not a timing assumption
        # The first parse builds TensorFlow's graphs; do it before anyone measures anything.
        httpx.post(f"{self.url}/model/parse", json={"text": "namaste"}, timeout=STARTUP_S)

    def _ready(self) -> bool:
        try:
            status = httpx.get(f"{self.url}/status", timeout=5.0)
        except httpx.HTTPError:
            return False
        return status.status_code == 200 and bool(status.json().get("model_file"))

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ensure_running(self) -> RasaServer:
        if not self.running:
            self.start()
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


@pytest.fixture(scope="session")
def rasa_model() -> Path:
    return require_rasa()


@pytest.fixture(scope="session")
def _rasa_process(rasa_model: Path, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[RasaServer]:
    server = RasaServer(rasa_model, tmp_path_factory.mktemp("rasa"))
    yield server
    server.stop()


@pytest.fixture
def rasa_server(_rasa_process: RasaServer) -> RasaServer:
    """The running server (started again if a test stopped it)."""
    return _rasa_process.ensure_running()


@pytest.fixture
async def rasa_http() -> Any:
    async with httpx.AsyncClient() as http:
        yield http


ROUTED = [
    # (text, intent, complaint type, locality) in English, Hindi (both ways of writing it)
    ("kachra pada hai rajpur road ke paas", "file_complaint", "GarbageNeedsTobeCleared", "Rajpur"),
    ("स्ट्रीट लाइट खराब है पलटन बाज़ार में", "file_complaint", "StreetLightNotWorking",
     "Paltan Bazaar"),
    ("no water supply since morning in Karanpur", "file_complaint", "NoWaterSupply", "Karanpur"),
    ("आवारा कुत्ते बहुत हैं", "file_complaint", "StrayDogs", None),
    ("meri shikayat ka status batao", "track_complaint", None, None),
    ("मेरी शिकायत का क्या हुआ", "track_complaint", None, None),
    ("I want to pay property tax", "pay_bill", None, None),
    ("पानी का बिल जमा करना है", "pay_bill", None, None),
    ("meri raseed dikhao", "view_receipts", None, None),
    ("janam praman patra banwana hai", "request_certificate", None, None),
    ("भाषा बदलें", "change_language", None, None),
    ("madad karo", "help", None, None),
    ("namaste ji", "greet", None, None),
    # Punjabi and Odia, negations inside the complaint
    ("ਗਲੀ ਦੀ ਬੱਤੀ ਖਰਾਬ ਹੈ ਜੀ", "file_complaint", "StreetLightNotWorking", None),
    ("ଆମ ଗଳିରେ ପାଣି ଆସୁନାହିଁ", "file_complaint", "NoWaterSupply", None),
    ("ਮੇਰੀ ਸ਼ਿਕਾਇਤ ਦਾ ਸਟੇਟਸ", "track_complaint", None, None),
    ("ଭାଷା ବଦଳାଇବି", "change_language", None, None),
]


async def test_rasa_routes_intents_and_fills_slots_in_every_style(rasa_server, rasa_http,
                                                                    matcher):
    nlu = RasaNLU(rasa_http, rasa_server.url, matcher, timeout_s=EVAL_TIMEOUT_S)
    slices = load_slices()
    for text, intent, code, place in ROUTED:
        result = await nlu.understand(text, None)
        assert (result.source, result.intent, result.confirm) == ("rasa", intent, False), text
        assert result.entities.get("complaint_type") == code, text
        assert result.entities.get("locality") == place, text
        assert slices.intents.get(intent, intent) in slices.flows
    # Chatter Samvad cannot help with goes to the built-in matcher, which knows nothing either.
    for chatter in ("who is winning the cricket today", "आज बारिश होगी क्या"):
        unsure = await nlu.understand(chatter, None)
        assert (unsure.source, unsure.intent) == ("builtin", None), chatter


class RecordingServices:
    """The engine's services: Rasa-backed NLU, and the two calls a complaint starts with."""

    def __init__(self, nlu: Any) -> None:
        self.nlu = nlu
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def now(self) -> float:
        return 1_000_000.0

    async def call(self, op: str, args: dict[str, Any], session: Session) -> Any:
        self.calls.append((op, dict(args)))
        if op == "complaint_type":
            return {"c": args["code"], "n": args["code"]}
        if op == "complaint_find_places":
            return {"n": 1, "items": [{"i": 7, "l": args["q"],
                                       "city": {"c": "uk.dehradun", "n": "Dehradun"}}]}
        raise ServiceError("unavailable", "not part of this test", 503)


async def first_message(engine: Engine, nlu: Any, text: str, *, at_menu: bool = False,
                        locale: str = "hi_IN") -> tuple[Session, list[tuple[str, dict]]]:
    """A registered citizen's free text, as a first message or at the main menu."""
    services = RecordingServices(nlu)
    session = Session(user_id=42, locale=locale, name="Asha", last_at=1_000_000.0)
    if at_menu:
        session.flow, session.step = MENU_FLOW, "menu"
    inbound = Inbound(channel="whatsapp", sender="+919876500077", kind="text", text=text)
    turn = await engine.turn(session, inbound, services)
    return turn.session, services.calls


async def test_free_text_jumps_into_the_complaint_flow_with_type_and_place(rasa_server,
                                                                            rasa_http, matcher):
    slices = load_slices()
    engine = Engine(slices.flows, slices.helpers)
    nlu = RasaNLU(rasa_http, rasa_server.url, matcher, timeout_s=EVAL_TIMEOUT_S)
    session, calls = await first_message(engine, nlu, "सड़क पर गड्ढा है राजपुर में")
    # The type is confirmed at once; the place is looked up after.
    assert session.flow == "file_complaint" and session.step == "confirm_type"
    assert calls[:1] == [("complaint_type", {"code": "PotHoles"})]
    assert session.slots["nlu_locality"] == "Rajpur"
    session, calls = await first_message(engine, nlu, "kachra gadi nahi aayi", at_menu=True)
    assert session.flow == "file_complaint"
    assert calls[0] == ("complaint_type", {"code": "NoDoorToDoorCollection"})
    _session, calls = await first_message(engine, nlu, "what is the status of my complaint",
                                          at_menu=True, locale="en_IN")
    assert calls[0][0] == "my_complaints"  # the tracking flow's first step


async def test_slow_or_absent_rasa_gives_the_builtin_answer(rasa_http, matcher):
    # Nothing listens on the port: refused at once.
    nowhere = RasaNLU(rasa_http, f"http://127.0.0.1:{free_port()}", matcher)
    assert await nowhere.understand("kachra pada hai", None) == matcher.understand_now(
        "kachra pada hai", None)
    # A server that accepts and never answers: the adapter's own time limit ends the wait.
    accepted = asyncio.Event()

    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        await reader.read()  # until the adapter gives up and closes
        writer.close()

    server = await asyncio.start_server(stall, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        slow = RasaNLU(rasa_http, f"http://127.0.0.1:{port}", matcher, timeout_s=0.3)
        result = await slow.understand("मेरी शिकायत की स्थिति", None)
        assert accepted.is_set()
        assert result == matcher.understand_now("मेरी शिकायत की स्थिति", None)
        assert result.source == "builtin" and result.intent == "track_complaint"


# ------------------------------------------------------------------------ evaluation


def _rate(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


async def engine_routes(engine: Engine, nlu: Any, example: Example) -> tuple[bool, str | None]:
    """End to end: did the first message open the complaint flow, with which type?"""
    _session, calls = await first_message(engine, nlu, example.text,
                                          locale=STYLE_LOCALES[example.style or "en"])
    opened = any(op in ("complaint_type", "complaint_categories") for op, _ in calls)
    code = next((args["code"] for op, args in calls if op == "complaint_type"), None)
    return opened, code


def rasa_test_nlu(model: Path, heldout: list[Example], workdir: Path) -> dict[str, Any]:
    """``rasa test nlu`` on the held-out set (file_complaint/<code> labels the type)."""
    blocks: dict[str, list[str]] = defaultdict(list)
    for example in heldout:
        intent = example.intent
        if intent == "file_complaint":
            intent = f"file_complaint/{example.complaint_type or 'none'}"
        blocks[intent].append(example.annotated)
    data = {"version": "3.1", "nlu": [
        {"intent": intent, "examples": "".join(f"- {line}\n" for line in lines)}
        for intent, lines in blocks.items()]}
    converted = workdir / "heldout_rasa.yml"
    converted.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")
    out = workdir / "rasa_test"
    done = subprocess.run(
        [str(rasa_executable()), "test", "nlu", "--nlu", str(converted), "--model", str(model),
         "--out", str(out), "--no-plot"],
        cwd=workdir, env={**os.environ, **RASA_ENV, "RASA_MAX_CACHE_SIZE": "0"},
        capture_output=True, text=True, timeout=1200, check=False)
    assert done.returncode == 0, f"rasa test nlu:\n{done.stdout[-2000:]}{done.stderr[-3000:]}"
    intents = json.loads((out / "intent_report.json").read_text())
    selection = json.loads((out / "response_selection_report.json").read_text())
    entities = json.loads((out / "DIETClassifier_report.json").read_text())
    return {
        "intent_accuracy": round(intents["accuracy"], 4),
        # the response selector over every complaint (file_complaint/<code> or /none)
        "complaint_type_accuracy": round(selection["accuracy"], 4),
        "complaint_type_entity_f1": round(entities["complaint_type"]["f1-score"], 4),
        "locality_entity_f1": round(entities["locality"]["f1-score"], 4),
    }


async def test_nlu_evaluation_meets_the_targets(rasa_server, rasa_model, rasa_http, matcher,
                                                tmp_path):
    heldout = read_examples(HELDOUT)
    # `rasa test nlu` loads the model itself: let it do so while the bot reads the set.
    cli_run = asyncio.create_task(asyncio.to_thread(rasa_test_nlu, rasa_model, heldout, tmp_path))
    rasa = RasaNLU(rasa_http, rasa_server.url, matcher, timeout_s=EVAL_TIMEOUT_S)
    slices = load_slices()
    engine = Engine(slices.flows, slices.helpers)
    with_rasa, builtin_only = Scores(), Scores()
    e2e = {"rasa": Counter(), "builtin": Counter()}
    sources: Counter[str] = Counter()
    for example in heldout:
        result = await rasa.understand(example.text, None)
        sources[result.source + (" (confirm)" if result.confirm else "")] += 1
        with_rasa.add(example, result.intent, result.entities.get("complaint_type"))
        alone = matcher.understand_now(example.text, None)
        builtin_only.add(example, alone.intent, alone.entities.get("complaint_type"))
        if example.intent == "file_complaint":
            for name, nlu in (("rasa", rasa), ("builtin", matcher)):
                opened, code = await engine_routes(engine, nlu, example)
                e2e[name]["complaints"] += 1
                e2e[name]["opened"] += opened
                e2e[name]["right_type"] += opened and code == example.complaint_type
    cli = await cli_run
    report = {
        "heldout": str(HELDOUT.relative_to(REPO_DIR)),
        "model": rasa_model.name,
        "targets": {"intent_accuracy": INTENT_TARGET, "complaint_type_accuracy": TYPE_TARGET},
        "rasa_with_fallback": with_rasa.figures(),
        "builtin_only": builtin_only.figures(),
        "answered_by": dict(sources),
        "engine_first_message": {
            name: {"complaints": c["complaints"],
                   "opened_complaint_flow": _rate(c["opened"], c["complaints"]),
                   "with_right_type": _rate(c["right_type"], c["complaints"])}
            for name, c in e2e.items()},
        "rasa_test_nlu": cli,
    }
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    ARTIFACT.write_text(json.dumps(report, ensure_ascii=False, indent=2), "utf-8")

    overall = report["rasa_with_fallback"]["all"]
    assert overall["flow_accuracy"] >= INTENT_TARGET, with_rasa.misses
    assert overall["type_accuracy"] >= TYPE_TARGET, with_rasa.misses
    assert report["engine_first_message"]["rasa"]["with_right_type"] >= TYPE_TARGET
    assert cli["intent_accuracy"] >= RAW_TARGET
    assert cli["complaint_type_accuracy"] >= TYPE_TARGET
    for style in STYLES:  # no language is left behind
        assert report["rasa_with_fallback"]["styles"][style]["flow_accuracy"] >= STYLE_TARGET, \
            style
    # Rasa earns its place: it reads at least as much as the fallback does on its own.
    assert overall["flow_accuracy"] >= report["builtin_only"]["all"]["flow_accuracy"]


async def test_stopping_the_server_mid_conversation_falls_back(rasa_server, rasa_http,
                                                               matcher):
    # Last in this module on purpose: the next user of the server starts it again.
    nlu = RasaNLU(rasa_http, rasa_server.url, matcher, timeout_s=EVAL_TIMEOUT_S)
    text = "mujhe pani ka bill bharna hai"
    assert (await nlu.understand(text, None)).source == "rasa"
    rasa_server.stop()
    fallen = await nlu.understand(text, None)
    assert fallen == matcher.understand_now(text, None)
    assert (fallen.source, fallen.intent) == ("builtin", "pay_bill")


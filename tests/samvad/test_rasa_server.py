"""`make run` (``samvad serve --rasa``) starts Rasa beside the server when `.venv-rasa` and
the trained model exist, and otherwise says once that the built-in matcher reads free
text (issue 20, part 6). A stand-in executable plays Rasa: what matters here is how it is
started, pointed at and stopped."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

import pytest

from samvad import cli, rasa_server
from samvad.settings import Settings

FAKE_RASA = """#!{python}
import json, signal, sys, time
with open({out!r}, "w") as handle:
    json.dump(sys.argv[1:], handle)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
time.sleep(60)
"""


@pytest.fixture
def rasa_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A .venv-rasa with a stand-in ``rasa`` and a models folder, both under tmp_path."""
    executable = tmp_path / "venv" / "bin" / "rasa"
    executable.parent.mkdir(parents=True)
    executable.write_text(FAKE_RASA.format(python=sys.executable,
                                           out=str(tmp_path / "argv.json")))
    executable.chmod(0o755)
    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setattr(rasa_server, "rasa_executable", lambda: executable)
    monkeypatch.setattr(rasa_server, "MODELS_DIR", models)
    monkeypatch.setattr(rasa_server, "model_path", lambda: models / "samvad-nlu-abc.tar.gz")
    return tmp_path


def _argv(home: Path) -> list[str]:
    deadline = time.monotonic() + 10
    while not (home / "argv.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return list(json.loads((home / "argv.json").read_text()))


def test_why_not_names_what_to_build(rasa_home: Path) -> None:
    assert "`make rasa` trains it" in (rasa_server.why_not() or "")
    (rasa_home / "models" / "samvad-nlu-old.tar.gz").write_bytes(b"old")
    assert "older than bot/rasa" in (rasa_server.why_not() or "")
    (rasa_home / "models" / "samvad-nlu-abc.tar.gz").write_bytes(b"model")
    assert rasa_server.why_not() is None
    (rasa_home / "venv" / "bin" / "rasa").unlink()
    assert "no .venv-rasa" in (rasa_server.why_not() or "")


def test_start_serves_the_current_model_on_another_port_when_5005_is_taken(
        rasa_home: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        local = rasa_server.start(rasa_home / "rasa.log", port=busy)
        try:
            port = int(local.url.rsplit(":", 1)[1])
            assert port != busy and local.url.startswith("http://127.0.0.1:")
            assert _argv(rasa_home) == [
                "run", "--enable-api", "-i", "127.0.0.1", "-p", str(port), "--model",
                str(rasa_home / "models" / "samvad-nlu-abc.tar.gz")]
        finally:
            local.stop()
    assert local.process.returncode is not None  # stopped with the server


def _said(settings: Settings, *, start_rasa: bool) -> tuple[str, object]:
    with cli.console.capture() as captured:
        local = cli._free_text_reader(settings, start_rasa=start_rasa)
    return captured.get(), local


def test_the_server_says_once_who_reads_free_text(
        rasa_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SAMVAD_RASA_URL", raising=False)
    settings = Settings(SAMVAD_ENV="development", SAMVAD_DATA_DIR=str(tmp_path / "var"))

    said, local = _said(settings, start_rasa=False)
    assert "read by the built-in matcher (SAMVAD_RASA_URL is not set)" in said and local is None
    said, local = _said(settings, start_rasa=True)  # --rasa, but no model trained
    assert "read by the built-in matcher (no trained Rasa model" in said and local is None
    assert "SAMVAD_RASA_URL" not in os.environ

    (rasa_home / "models" / "samvad-nlu-abc.tar.gz").write_bytes(b"model")
    said, local = _said(settings, start_rasa=True)
    assert isinstance(local, rasa_server.LocalRasa)
    try:
        assert "Rasa NLU on http://127.0.0.1:" in said and "samvad-nlu-abc.tar.gz" in said
        assert os.environ["SAMVAD_RASA_URL"] == local.url  # what the app reads
        assert local.log == tmp_path / "var" / "rasa.log"
    finally:
        local.stop()
        # Not monkeypatch.delenv: it would put the URL back when the test ends, and the
        # tests after this one would find a Rasa that is gone.
        os.environ.pop("SAMVAD_RASA_URL", None)

    configured = Settings(SAMVAD_ENV="development", SAMVAD_RASA_URL="http://rasa:5005")
    said, local = _said(configured, start_rasa=True)
    assert "Rasa NLU at http://rasa:5005 (SAMVAD_RASA_URL)" in said and local is None

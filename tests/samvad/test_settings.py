"""Settings from the environment: SAMVAD_PUBLIC_URL follows where Samvad listens."""

from __future__ import annotations

import pytest

from samvad.settings import Settings


@pytest.fixture
def env(monkeypatch):
    for name in ("SAMVAD_HOST", "SAMVAD_PORT", "SAMVAD_PUBLIC_URL"):
        monkeypatch.setenv(name, "")  # recorded, so that teardown restores what was there
        monkeypatch.delenv(name)
    return monkeypatch


def test_public_url_defaults_to_the_host_and_port_served(env):
    assert Settings().public_url == "http://127.0.0.1:8000"
    env.setenv("SAMVAD_PORT", "8201")
    assert Settings().public_url == "http://127.0.0.1:8201"
    env.setenv("SAMVAD_HOST", "192.168.1.20")
    assert Settings().public_url == "http://192.168.1.20:8201"


def test_listening_everywhere_links_to_loopback_and_an_explicit_url_wins(env):
    env.setenv("SAMVAD_HOST", "0.0.0.0")  # noqa: S104 - the setting under test
    env.setenv("SAMVAD_PORT", "9000")
    assert Settings().public_url == "http://127.0.0.1:9000"
    env.setenv("SAMVAD_PUBLIC_URL", "https://samvad.example.gov.in")
    assert Settings().public_url == "https://samvad.example.gov.in"


def test_serve_port_option_reaches_the_settings_of_the_app(env, monkeypatch):
    """`samvad serve --port 8201`: the app's own Settings() (in each uvicorn worker) and
    so its payment links use 8201, not 8000."""
    import uvicorn
    from typer.testing import CliRunner

    from samvad.cli import app

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: seen.update(kw))
    result = CliRunner().invoke(app, ["serve", "--port", "8201"])
    assert result.exit_code == 0, result.output
    assert seen["port"] == 8201
    assert Settings().public_url == "http://127.0.0.1:8201"
    assert "http://127.0.0.1:8201/simulator" in result.output

"""Development mode listens on loopback only (SPEC §9): `samvad serve` in embedded or
development mode refuses a non-loopback address unless told it is meant, and then says so
in one loud line; production mode serves wherever it is told."""

from __future__ import annotations

from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from samvad.cli import app, is_loopback

pytestmark = pytest.mark.reliability

PRODUCTION = {
    "SAMVAD_ENV": "production",
    "SAMVAD_DATABASE_URL": "postgresql://samvad:pw@db.internal:5432/samvad",
    "SAMVAD_REDIS_URL": "redis://redis.internal:6379/0",
    "SAMVAD_SECRET_KEY": "a-production-secret-key-of-enough-length-0123456789",
}
WARNING = "WARNING: development mode"
EVERYWHERE = "0.0.0.0"  # noqa: S104 - the address under test


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run `samvad serve ARGS` with ENV (nothing else of Samvad's in the environment);
    uvicorn.run only records what it was asked."""
    names = ("SAMVAD_HOST", "SAMVAD_PORT", "SAMVAD_PUBLIC_URL", "SAMVAD_ENV",
             "SAMVAD_DATABASE_URL", "SAMVAD_REDIS_URL", "SAMVAD_SECRET_KEY",
             "SAMVAD_ALLOW_PUBLIC_DEVELOPMENT", "SAMVAD_SIMULATOR")
    for name in names:  # recorded, so that teardown restores what was there
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    started: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: started.append(kw))

    def run(*args: str, **env: str) -> tuple[int, str, dict[str, Any] | None]:
        for name in names:
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        before = len(started)
        result = CliRunner().invoke(app, ["serve", *args])
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            result.output)
        return result.exit_code, result.output, (started[-1] if len(started) > before
                                                 else None)

    return run


def test_development_mode_refuses_non_loopback_addresses(serve: Any, reliability: Any) -> None:
    refused = {
        f"SAMVAD_HOST={EVERYWHERE} (embedded)": serve(SAMVAD_HOST=EVERYWHERE),
        "--host 192.168.1.20 (embedded)": serve("--host", "192.168.1.20"),
        "--host :: (embedded)": serve("--host", "::"),
        "--host 10.0.0.5, SAMVAD_ENV=development against PostgreSQL and Redis": serve(
            "--host", "10.0.0.5", **{**PRODUCTION, "SAMVAD_ENV": "development"}),
        f"SAMVAD_HOST={EVERYWHERE}, SAMVAD_ALLOW_PUBLIC_DEVELOPMENT=false": serve(
            SAMVAD_HOST=EVERYWHERE, SAMVAD_ALLOW_PUBLIC_DEVELOPMENT="false"),
    }
    for what, (code, output, started) in refused.items():
        assert (code, started) == (2, None), (what, output)
        assert "Development mode listens on loopback only" in output, (what, output)
        assert "--i-know-this-is-development" in output, (what, output)

    allowed = {}
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        code, output, started = serve("--host", host)
        assert code == 0 and started is not None and started["host"] == host, (host, output)
        assert WARNING not in output, host
        allowed[host] = started
    reliability.record(
        area="privacy", case="Development mode on a public address",
        sent=f"samvad serve in development mode on {len(refused)} non-loopback addresses "
             f"({'; '.join(refused)}), and on {len(allowed)} loopback ones",
        did="each non-loopback address refused (exit 2, uvicorn never started, the way out "
            "named); loopback addresses served without a warning",
        lost="nothing; 0 servers started on a public address")


def test_the_override_serves_with_one_loud_warning(serve: Any, reliability: Any) -> None:
    for args, env in ((("--host", EVERYWHERE, "--i-know-this-is-development"), {}),
                      ((), {"SAMVAD_HOST": "192.168.1.20",
                            "SAMVAD_ALLOW_PUBLIC_DEVELOPMENT": "true"})):
        code, output, started = serve(*args, **env)
        assert code == 0 and started is not None, output
        warnings = [line for line in output.splitlines() if WARNING in line]
        assert len(warnings) == 1, output
        assert started["host"] in warnings[0] and "other machines" in warnings[0]

    # Production mode is not development: it serves on every interface without a word.
    code, output, started = serve("--host", EVERYWHERE, **PRODUCTION)
    assert code == 0 and started is not None and started["host"] == EVERYWHERE, output
    assert WARNING not in output and "loopback" not in output
    reliability.record(
        area="privacy", case="Development mode on a public address, on purpose",
        sent="--i-know-this-is-development with --host 0.0.0.0; "
             "SAMVAD_ALLOW_PUBLIC_DEVELOPMENT=true with SAMVAD_HOST=192.168.1.20; production "
             "mode (PostgreSQL, Redis, SAMVAD_ENV=production) on 0.0.0.0",
        did="development served with one red WARNING line naming the address; production "
            "served with no warning",
        lost="nothing")


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("LOCALHOST", True), ("samvad.localhost", True),
    (EVERYWHERE, False), ("::", False), ("", False), ("192.168.1.20", False),
    ("10.0.0.5", False), ("fe80::1", False), ("no-such-host.invalid", False),
])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback

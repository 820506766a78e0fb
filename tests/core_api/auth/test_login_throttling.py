"""Guessing staff passwords: back-off, lockout, unlock, per-address limits, no username
enumeration, bounded password checks, security metrics (core_api/auth/throttle.py).

Time is the guard's clock (frozen or moved by the test), so back-offs end when the test
says; password checks are counted by wrapping the guard's checker, never timed.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from redis.exceptions import ConnectionError as RedisConnectionError

from core_api.auth import endpoints as auth_endpoints
from core_api.auth.throttle import PREFIX, LoginGuard, guard_of
from core_api.auth.tokens import verify_password

pytestmark = [pytest.mark.redis, pytest.mark.reliability, pytest.mark.timeout(180)]

TOKEN_URL = "/api/v1/auth/token"
RIGHT = "samvad-demo"
WRONG = "not-the-password"
GRO_PHONE = "+91 98765 10001"


class Clock:
    """The guard's clock: frozen unless the test moves it."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Checks:
    """Counts the password checks (argon2 verifications) and how many ran at once."""

    def __init__(self, real: Callable[[str | None, str], bool] = verify_password) -> None:
        self.real = real
        self.hashes: list[str | None] = []
        self.running = 0
        self.peak = 0
        self.release = threading.Event()
        self.release.set()  # cleared by a test that wants checks to hang
        self._lock = threading.Lock()

    @property
    def count(self) -> int:
        return len(self.hashes)

    def __call__(self, password_hash: str | None, password: str) -> bool:
        with self._lock:
            self.hashes.append(password_hash)
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            assert self.release.wait(60)
            return self.real(password_hash, password)
        finally:
            with self._lock:
                self.running -= 1


@pytest.fixture
async def guard(app: Any, redis_client: Any) -> AsyncIterator[LoginGuard]:
    """The app's login guard on a frozen clock, counting checks; its keys removed after."""
    login_guard = guard_of(app)
    login_guard.clock = Clock()
    login_guard.checker = Checks()
    yield login_guard
    async for key in redis_client.scan_iter(match=PREFIX.replace("{", "[{]") + "*"):
        await redis_client.delete(key)


def clock_of(guard: LoginGuard) -> Clock:
    assert isinstance(guard.clock, Clock)
    return guard.clock


def checks_of(guard: LoginGuard) -> Checks:
    assert isinstance(guard.checker, Checks)
    return guard.checker


@asynccontextmanager
async def client_from(app: Any, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests come from ``address``."""
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def log_in(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post(TOKEN_URL, data={"username": username, "password": password})


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["code"] == code and body["message"], body
    assert "access_token" not in response.text
    return body


def retry_after(response: httpx.Response) -> int:
    seconds = int(response.headers["retry-after"])
    assert response.json()["error"]["details"]["retry_after"] == seconds
    return seconds


async def fail_until_locked(client: httpx.AsyncClient, guard: LoginGuard, username: str,
                            ) -> list[httpx.Response]:
    """Wrong passwords until the lock (ten by default), each after the back-off of the one
    before (2, 4, 8, 16, 32 s by default), all within the 15-minute window."""
    answers = []
    for n in range(guard.policy.lock_after):
        if n >= guard.policy.backoff_after:
            clock_of(guard).advance(60)
        answers.append(await log_in(client, username, WRONG))
        error(answers[-1], 401, "bad_credentials")
    return answers


def quick_lock(guard: LoginGuard) -> None:
    """Lock after three failures (back-off after two): for tests about unlocking."""
    guard.policy = replace(guard.policy, backoff_after=2, lock_after=3)


async def test_five_failures_start_an_exponential_back_off_that_refuses_the_right_password(
        client: httpx.AsyncClient, guard: LoginGuard, reliability: Any) -> None:
    checks, clock = checks_of(guard), clock_of(guard)
    wrong_before = metric("samvad_login_failures_total", reason="wrong_password")
    backoff_before = metric("samvad_login_failures_total", reason="account_backoff")
    started_before = metric("samvad_login_backoffs_total", scope="account")
    for _ in range(5):
        error(await log_in(client, "admin", WRONG), 401, "bad_credentials")
    refused = await log_in(client, "admin", RIGHT)  # the right password, too soon
    error(refused, 429, "login_backoff")
    assert retry_after(refused) == 2
    assert checks.count == 5  # the refusal cost no password check

    clock.advance(2)
    error(await log_in(client, "admin", WRONG), 401, "bad_credentials")  # sixth failure
    doubled = await log_in(client, "admin", RIGHT)
    error(doubled, 429, "login_backoff")
    assert retry_after(doubled) == 4
    clock.advance(4)
    assert (await log_in(client, "admin", RIGHT)).status_code == 200
    # A success clears the account's count: the next failure starts from one.
    error(await log_in(client, "admin", WRONG), 401, "bad_credentials")
    assert (await log_in(client, "admin", RIGHT)).status_code == 200
    assert checks.count == 9

    assert metric("samvad_login_failures_total", reason="wrong_password") - wrong_before == 7
    assert metric("samvad_login_failures_total", reason="account_backoff") - backoff_before == 2
    assert metric("samvad_login_backoffs_total", scope="account") - started_before == 2
    reliability.record(
        area="abuse", case="Staff password guessing: back-off",
        sent="5 wrong passwords for admin, then the right one; then one more wrong",
        did="401 each, then 429 login_backoff with Retry-After 2 s (the right password "
            "refused unchecked), 4 s after the 6th; a success resets the count",
        lost="nothing: 9 password checks for 11 tries, no token while backing off")


async def test_ten_failures_lock_the_account_for_every_spelling_of_its_name(
        client: httpx.AsyncClient, guard: LoginGuard, reliability: Any) -> None:
    lockouts_before = metric("samvad_login_lockouts_total")
    locked_before = metric("samvad_login_failures_total", reason="locked")
    await fail_until_locked(client, guard, "gro.dehradun")
    clock_of(guard).advance(3000)  # long past any back-off: the lock is what refuses
    for spelling in ("gro.dehradun", GRO_PHONE, "9876510001"):
        refused = await log_in(client, spelling, RIGHT)
        error(refused, 423, "account_locked")
        assert 3500 <= retry_after(refused) <= 3600
    assert checks_of(guard).count == 10
    assert metric("samvad_login_lockouts_total") - lockouts_before == 1
    assert metric("samvad_login_failures_total", reason="locked") - locked_before == 3
    # Another account is not affected.
    assert (await log_in(client, "registrar.dehradun", RIGHT)).status_code == 200

    # The lock ends by itself after SAMVAD_LOGIN_LOCK_S (one second here, after 3 failures).
    quick_lock(guard)
    guard.policy = replace(guard.policy, lock_s=1)
    await fail_until_locked(client, guard, "lme.sanitation.dehradun")
    assert metric("samvad_login_lockouts_total") - lockouts_before == 2
    for _ in range(100):
        if not await guard.redis.exists(f"{PREFIX}acct:lme.sanitation.dehradun:lock"):
            break
        await asyncio.sleep(0.05)
    assert (await log_in(client, "lme.sanitation.dehradun", RIGHT)).status_code == 200
    reliability.record(
        area="abuse", case="Staff password guessing: lockout",
        sent="10 wrong passwords for gro.dehradun within 5 minutes (past each back-off), "
             "then the right one by username and two phone spellings",
        did="locked: 423 account_locked with Retry-After ≈ 3600 s for every spelling, "
            "samvad_login_lockouts_total +1; other staff log in; a lock ends after "
            "SAMVAD_LOGIN_LOCK_S",
        lost="nothing: 10 password checks, no token while locked")


async def test_samvad_users_unlock_lifts_a_lock(
        client: httpx.AsyncClient, guard: LoginGuard, settings: Any, reliability: Any) -> None:
    from typer.testing import CliRunner

    from samvad.cli import app as cli_app

    quick_lock(guard)
    await fail_until_locked(client, guard, "lme.electrical.dehradun")
    error(await log_in(client, "lme.electrical.dehradun", RIGHT), 423, "account_locked")
    env = {"SAMVAD_DATABASE_URL": settings.database_url, "SAMVAD_REDIS_URL": settings.redis_url,
           "SAMVAD_ENV": "development", "SAMVAD_DATA_DIR": str(settings.data_dir),
           "SAMVAD_SECRET_KEY": settings.secret_key}
    runner = CliRunner()
    # By phone number: the same account.
    result = await asyncio.to_thread(runner.invoke, cli_app,
                                     ["users", "unlock", "+919876510002"], env=env)
    assert result.exit_code == 0, result.output
    assert "lme.electrical.dehradun: was locked, now unlocked" in result.output
    assert (await log_in(client, "lme.electrical.dehradun", RIGHT)).status_code == 200

    result = await asyncio.to_thread(runner.invoke, cli_app, ["users", "unlock", "nobody.x"],
                                     env=env)
    assert result.exit_code == 1 and "No staff account" in result.output
    reliability.record(
        area="abuse", case="Staff password guessing: unlock from the command line",
        sent="a locked LME; `samvad users unlock +919876510002`",
        did="unlocked (by username or number), the right password accepted again; an "
            "unknown name exits 1",
        lost="nothing")


async def test_admins_unlock_over_the_api_and_nobody_else_may(
        client: httpx.AsyncClient, app: Any, auth: Any, guard: LoginGuard,
        reliability: Any) -> None:
    admin = await auth.staff("admin")
    gro = await auth.staff("gro.dehradun")
    quick_lock(guard)
    await fail_until_locked(client, guard, "registrar.dehradun")
    url = "/api/v1/users/registrar.dehradun/unlock"

    error(await client.post(url, headers=gro), 403, "role_forbidden")
    error(await client.post(url, headers=auth.service("+919876500001")), 403, "staff_only")
    error(await client.post(url), 401, "not_authenticated")
    error(await log_in(client, "registrar.dehradun", RIGHT), 423, "account_locked")

    error(await client.post("/api/v1/users/nobody.dehradun/unlock", headers=admin),
          404, "not_found")
    unlocked = await client.post(url, headers=admin)
    assert unlocked.status_code == 200, unlocked.text
    assert unlocked.json() == {"username": "registrar.dehradun", "was_locked": True,
                               "failures_cleared": 0}
    assert (await log_in(client, "registrar.dehradun", RIGHT)).status_code == 200

    # Unlocking also lifts a back-off and clears the failures that led to it.
    for _ in range(2):
        error(await log_in(client, "gro.dehradun", WRONG), 401, "bad_credentials")
    error(await log_in(client, "gro.dehradun", RIGHT), 429, "login_backoff")
    again = await client.post("/api/v1/users/+919876510001/unlock", headers=admin)
    assert again.json() == {"username": "gro.dehradun", "was_locked": False,
                            "failures_cleared": 2}
    assert (await log_in(client, "gro.dehradun", RIGHT)).status_code == 200
    reliability.record(
        area="abuse", case="Staff password guessing: unlock over the API",
        sent="POST /api/v1/users/registrar.dehradun/unlock as a GRO, a citizen, nobody, "
             "then as the state admin",
        did="403, 403, 401 (still locked), then 200 and the right password accepted; an "
            "admin also lifts a back-off",
        lost="nothing")


async def test_one_address_backs_off_across_usernames(
        app: Any, guard: LoginGuard, reliability: Any) -> None:
    assert guard.policy.address_backoff_after == 20  # the default; six here, to be quick
    guard.policy = replace(guard.policy, address_backoff_after=6)
    before = metric("samvad_login_backoffs_total", scope="address")
    async with client_from(app, "203.0.113.7") as sprayer:
        for n in range(6):  # one guess each for six names, known or not
            name = f"staff{n}.dehradun" if n % 2 else "gro.dehradun" if n == 0 else f"x{n}"
            error(await log_in(sprayer, name, WRONG), 401, "bad_credentials")
        refused = await log_in(sprayer, "admin", RIGHT)
        error(refused, 429, "login_address_backoff")
        assert retry_after(refused) == 2
    async with client_from(app, "198.51.100.20") as colleague:
        assert (await log_in(colleague, "admin", RIGHT)).status_code == 200
    # IPv6 callers count by their /64.
    async with client_from(app, "2001:db8:1:2::10") as one:
        for _ in range(3):
            error(await log_in(one, "ghost.v6", WRONG), 401, "bad_credentials")
    assert await guard.redis.exists(f"{PREFIX}addr:2001:db8:1:2::/64:fails")
    assert checks_of(guard).count == 10
    assert metric("samvad_login_backoffs_total", scope="address") - before == 1
    reliability.record(
        area="abuse", case="Password spraying from one address",
        sent="one wrong password for each of 6 usernames (SAMVAD_LOGIN_ADDRESS_BACKOFF_AFTER; "
             "default 20) from one address, then admin's right password",
        did="429 login_address_backoff with Retry-After 2 s for that address; admin logs in "
            "from another address",
        lost="nothing: no token for the sprayer")


async def _sequence(client: httpx.AsyncClient, guard: LoginGuard, name: str
                    ) -> list[tuple[int, dict[str, Any], str | None]]:
    """Everything a guesser sees over a lockout: status, body, Retry-After."""
    seen = []
    for n in range(12):
        if 5 < n < 11:
            clock_of(guard).advance(60)
        response = await log_in(client, name, WRONG)
        body = response.json()
        header = response.headers.get("retry-after")
        if response.status_code == 423:  # the lock's remaining seconds tick in real time
            assert 3500 <= int(header or 0) <= 3600
            body["error"]["details"]["retry_after"] = header = "≈3600"
        seen.append((response.status_code, body, header))
    return seen


async def test_an_unknown_user_is_answered_exactly_like_a_wrong_password(
        app: Any, guard: LoginGuard, reliability: Any) -> None:
    checks = checks_of(guard)
    async with client_from(app, "192.0.2.1") as known_client:
        known = await _sequence(known_client, guard, "admin")
    known_checks = checks.hashes[:]
    async with client_from(app, "192.0.2.2") as unknown_client:
        unknown = await _sequence(unknown_client, guard, "no.such.user")
    unknown_checks = checks.hashes[len(known_checks):]

    assert [status for status, _, _ in known] == [401] * 5 + [429] + [401] * 5 + [423]
    assert unknown == known
    # The same work: one argon2 check per try that got one, against the decoy hash (made
    # with the production hasher's parameters) for the name nobody has.
    assert len(known_checks) == len(unknown_checks) == 10
    assert set(unknown_checks) == {auth_endpoints._DECOY_HASH}
    assert auth_endpoints._DECOY_HASH not in known_checks
    reliability.record(
        area="abuse", case="Username enumeration through the login",
        sent="the same 12 wrong logins for admin and for a name nobody has",
        did="identical answers (401 ×5, 429 back-off, 401 ×5, 423 locked: same status, "
            "body and Retry-After) and one argon2 check per try each (a decoy hash for "
            "the unknown name)",
        lost="nothing: which usernames exist cannot be told from the answers")


async def test_concurrent_guessers_get_no_more_password_checks_than_allowed(
        app: Any, client: httpx.AsyncClient, guard: LoginGuard, reliability: Any) -> None:
    guard.policy = replace(guard.policy, hash_wait_s=120)  # queue, never "busy", here
    checks = checks_of(guard)
    answers = await asyncio.gather(*(log_in(client, "admin", f"guess-{n}")
                                     for n in range(30)))
    statuses = sorted(a.status_code for a in answers)
    assert checks.count == 5
    assert statuses == [401] * 5 + [429] * 25, statuses
    assert all(a.json()["error"]["code"] == "login_backoff" for a in answers
               if a.status_code == 429)

    # Twenty names at once from one address that allows eight failures: eight checks.
    guard.policy = replace(guard.policy, address_backoff_after=8)
    async with client_from(app, "203.0.113.99") as sprayer:
        answers = await asyncio.gather(*(log_in(sprayer, f"name{n}", WRONG)
                                         for n in range(20)))
    codes = sorted(a.json()["error"]["code"] for a in answers)
    assert checks.count == 5 + 8
    assert codes == ["bad_credentials"] * 8 + ["login_address_backoff"] * 12, codes
    assert checks.peak <= guard.policy.hash_concurrency == 2
    reliability.record(
        area="abuse", case="Concurrent password guessing",
        sent="30 simultaneous wrong logins for admin; 20 simultaneous logins for 20 names "
             "from one address that backs off after 8 failures",
        did="5 password checks then 429 for the other 25 (the slot is taken atomically in "
            "Redis before a check); 8 checks then 429 for the address; at most 2 argon2 "
            "checks ran at once",
        lost="nothing: no more checks than the limits allow, whatever the timing")


async def test_password_checks_are_bounded_and_a_saturated_checker_answers_503(
        client: httpx.AsyncClient, guard: LoginGuard, reliability: Any) -> None:
    checks = checks_of(guard)
    guard.policy = replace(guard.policy, hash_wait_s=0.05)
    busy_before = metric("samvad_login_failures_total", reason="busy")
    checks.release.clear()  # checks hang until released: the gate stays full
    hanging = [asyncio.create_task(log_in(client, name, RIGHT))
               for name in ("gro.dehradun", "registrar.dehradun")]
    for _ in range(6000):  # until both checks hang in their threads
        if checks.running == 2:
            break
        await asyncio.sleep(0.01)
    refused = await log_in(client, "admin", RIGHT)
    error(refused, 503, "login_busy")
    assert retry_after(refused) >= 1
    assert checks.count == 2 and checks.peak == 2
    checks.release.set()
    assert [(await task).status_code for task in hanging] == [200, 200]
    # The refused try was not counted as a failure: admin logs in at once.
    assert (await log_in(client, "admin", RIGHT)).status_code == 200
    assert metric("samvad_login_failures_total", reason="busy") - busy_before == 1

    # Redis unreachable: logins are refused (503), not let through unthrottled.
    async def unreachable(**_kw: Any) -> Any:
        raise RedisConnectionError("down")
    real_begin, guard._begin = guard._begin, unreachable  # type: ignore[assignment]
    try:
        error(await log_in(client, "admin", RIGHT), 503, "login_unavailable")
    finally:
        guard._begin = real_begin
    reliability.record(
        area="abuse", case="Password checks starving the API",
        sent="two logins whose argon2 checks hang, then a third; a login with Redis down",
        did="at most SAMVAD_LOGIN_HASH_CONCURRENCY (2) checks at once; the third waited "
            "SAMVAD_LOGIN_HASH_WAIT_S and got 503 login_busy with Retry-After (not counted "
            "as a failure); without Redis 503 login_unavailable",
        lost="nothing: both hanging logins succeeded once released")


async def test_security_events_are_counted_in_metrics_and_the_dashboard_login_is_throttled(
        client: httpx.AsyncClient, guard: LoginGuard) -> None:
    quick_lock(guard)
    error(await log_in(client, "admin", WRONG), 401, "bad_credentials")
    for _ in range(2):
        error(await log_in(client, "no.such.user", WRONG), 401, "bad_credentials")
    page = await client.post("/dashboard/login", data={"username": "no.such.user",
                                                       "password": RIGHT})
    assert page.status_code == 429 and "Too many failed logins" in page.text
    clock_of(guard).advance(60)
    error(await log_in(client, "no.such.user", WRONG), 401, "bad_credentials")  # locked now
    error(await log_in(client, "no.such.user", RIGHT), 423, "account_locked")
    text = (await client.get("/metrics")).text
    for line in ('samvad_login_failures_total{reason="unknown_user"}',
                 'samvad_login_failures_total{reason="wrong_password"}',
                 'samvad_login_failures_total{reason="account_backoff"}',
                 'samvad_login_backoffs_total{scope="account"}',
                 "samvad_login_lockouts_total"):
        value = next(row.rsplit(" ", 1)[1] for row in text.splitlines()
                     if row.startswith(line + " "))
        assert float(value) >= 1, line

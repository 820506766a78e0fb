"""Staff login throttling: back-off, lockout and a bounded password checker.

Guessing a staff password is limited three ways, with the counts in Redis so that every
web process shares them:

- **Per account.** Failed logins of one account within ``SAMVAD_LOGIN_FAILURE_WINDOW_S``
  (15 min): from the ``SAMVAD_LOGIN_BACKOFF_AFTER``-th (5) on, the next try must wait
  ``base * 2^(failures - 5)`` seconds (2, 4, 8, ... at most ``SAMVAD_LOGIN_BACKOFF_MAX_S``);
  at ``SAMVAD_LOGIN_LOCK_AFTER`` (10) the account is locked for ``SAMVAD_LOGIN_LOCK_S``
  (1 h; 0: until unlocked) or until an admin unlocks it (``samvad users unlock NAME``,
  ``POST /api/v1/users/{username}/unlock``). A successful login clears the account's count.
- **Per client address** (IPv6: its /64): after ``SAMVAD_LOGIN_ADDRESS_BACKOFF_AFTER`` (20)
  failures on any accounts within the window the address backs off the same way (no
  lock: one office behind one NAT must not lock everybody out). Success does not clear it.
- **Password checks** (argon2, ~0.1 s of CPU each) run in threads, at most
  ``SAMVAD_LOGIN_HASH_CONCURRENCY`` (2) at a time per process; a login that cannot start
  its check within ``SAMVAD_LOGIN_HASH_WAIT_S`` (1 s) is answered 503 instead of queueing.

Answers (the one error envelope, ``details.retry_after`` and ``Retry-After`` in seconds):

    401 bad_credentials        wrong password, unknown user, disabled account (identical)
    429 login_backoff          this account failed too often: wait Retry-After
    429 login_address_backoff  this address failed too often: wait Retry-After
    423 account_locked         locked; Retry-After until it ends (absent: until unlocked)
    503 login_busy             too many password checks at once: retry after Retry-After
    503 login_unavailable      Redis is unreachable: logins are refused, not unthrottled

A refused try costs no password check, and a correct password is refused too while the
account is locked or backing off. Unknown login names are counted and locked exactly like
real accounts (the account key is the username of the matched account, else the login
name as typed, normalised), so the answers do not tell which usernames exist.

**Atomic.** Each login takes a slot before its password check and gives it back after,
in two Lua scripts (``_BEGIN``, ``_END``). While a check is running, it counts as a
failure-to-be, so N concurrent guessers get at most ``SAMVAD_LOGIN_BACKOFF_AFTER`` checks
before the first back-off, and one at a time after it. Keys (all in one Redis Cluster
slot through the ``{login}`` hash tag, so a script may touch account and address)::

    samvad:{login}:acct:<account>:fails   sorted set of failure times (TTL: the window)
    samvad:{login}:acct:<account>:state   hash: inflight checks, back-off end (ms)
    samvad:{login}:acct:<account>:lock    the lock (TTL: the lock time, or none)
    samvad:{login}:addr:<address>:fails / :state   the same for a client address

Phone numbers never appear in keys (an unknown number is hashed) nor unmasked in logs.
Every failure, back-off, lockout, refusal and unlock is logged (``security="login"``) and
counted: ``samvad_login_failures_total{reason}``, ``samvad_login_backoffs_total{scope}``,
``samvad_login_lockouts_total``.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core_api.auth import tokens
from core_api.errors import BadRequest, Locked, ServiceUnavailable, TooManyRequests
from core_api.phones import mask_phone, normalize_phone
from core_api.users.models import User, UserKind

log = structlog.get_logger(__name__)

PREFIX = "samvad:{login}:"
LEASE_MS = 60_000  # a check's slot is forgotten this long after a process died holding it
PENDING_RETRY_MS = 1000  # a try refused because other checks of the account are running

FAILURE_REASONS = ("wrong_password", "unknown_user", "disabled",  # after a password check
                   "account_backoff", "address_backoff", "locked", "busy", "unavailable")
FAILURES = Counter(
    "samvad_login_failures", "Staff logins refused, by reason (wrong_password, unknown_user, "
    "disabled after a password check; account_backoff, address_backoff, locked, busy, "
    "unavailable without one)", ["reason"])
BACKOFFS = Counter(
    "samvad_login_backoffs", "Back-offs started or lengthened by a failed staff login, by "
    "scope (account, address)", ["scope"])
LOCKOUTS = Counter("samvad_login_lockouts", "Staff accounts locked after repeated failed logins")
for _reason in FAILURE_REASONS:
    FAILURES.labels(_reason)
for _scope in ("account", "address"):
    BACKOFFS.labels(_scope)

# KEYS acct fails, acct state, acct lock, addr fails, addr state.
# ARGV now ms, window ms, account back-off after, address back-off after (0: none), lease ms,
#      the wait (ms) to answer while other checks of the account or address are running.
# Returns {verdict, wait ms}: ok (a slot was taken), locked (wait -1: no end), account,
# address (backing off, or other checks are running that may start a back-off).
_BEGIN = """
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local lock_ttl = redis.call('PTTL', KEYS[3])
if lock_ttl ~= -2 then
  return {'locked', lock_ttl}
end
local function wait_of(fails_key, state_key, after)
  local state = redis.call('HMGET', state_key, 'inflight', 'until')
  local inflight, till = tonumber(state[1]) or 0, tonumber(state[2]) or 0
  if till > now then
    return till - now
  end
  if inflight > 0 and inflight + redis.call('ZCOUNT', fails_key, now - window, '+inf')
      >= after then
    return tonumber(ARGV[6])
  end
  return 0
end
local wait = wait_of(KEYS[1], KEYS[2], tonumber(ARGV[3]))
if wait > 0 then
  return {'account', wait}
end
local address_after = tonumber(ARGV[4])
if address_after > 0 then
  wait = wait_of(KEYS[4], KEYS[5], address_after)
  if wait > 0 then
    return {'address', wait}
  end
end
local lease = tonumber(ARGV[5])
for _, key in ipairs({KEYS[2], KEYS[5]}) do
  redis.call('HINCRBY', key, 'inflight', 1)
  if redis.call('PTTL', key) < lease then
    redis.call('PEXPIRE', key, lease)
  end
end
return {'ok', 0}
"""

# KEYS as _BEGIN. ARGV now ms, outcome (fail, ok, abort), failure id, window ms,
# account back-off after, lock after (0: never), address back-off after (0: none),
# back-off base ms, back-off cap ms, lock ms (0: until unlocked), lease ms.
# Returns {locked 0/1, account failures, account wait ms, address failures, address wait ms}.
_END = """
local now, outcome, window = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[4])
local base, cap, lease = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[11])
local function release(state_key)
  local left = redis.call('HINCRBY', state_key, 'inflight', -1)
  if left < 0 then
    redis.call('HSET', state_key, 'inflight', 0)
  end
end
local function settle(state_key)
  local state = redis.call('HMGET', state_key, 'inflight', 'until')
  local inflight, till = tonumber(state[1]) or 0, tonumber(state[2]) or 0
  local keep = 0
  if till > now then keep = till - now end
  if inflight > 0 and keep < lease then keep = lease end
  if keep > 0 then
    redis.call('PEXPIRE', state_key, keep)
  else
    redis.call('DEL', state_key)
  end
end
local function fail(fails_key, state_key, after)
  redis.call('ZADD', fails_key, now, ARGV[3])
  redis.call('ZREMRANGEBYSCORE', fails_key, '-inf', now - window)
  redis.call('PEXPIRE', fails_key, window)
  local count = redis.call('ZCARD', fails_key)
  local wait = 0
  if after > 0 and count >= after then
    wait = math.floor(math.min(cap, base * 2 ^ (count - after)))
    redis.call('HSET', state_key, 'until', now + wait)
  end
  return count, wait
end
release(KEYS[2])
release(KEYS[5])
local locked, account_count, account_wait, address_count, address_wait = 0, 0, 0, 0, 0
local address_after = tonumber(ARGV[7])
if outcome == 'fail' then
  account_count, account_wait = fail(KEYS[1], KEYS[2], tonumber(ARGV[5]))
  if address_after > 0 then
    address_count, address_wait = fail(KEYS[4], KEYS[5], address_after)
  end
  local lock_after, lock_ms = tonumber(ARGV[6]), tonumber(ARGV[10])
  if lock_after > 0 and account_count >= lock_after then
    if lock_ms > 0 then
      redis.call('SET', KEYS[3], now, 'PX', lock_ms)
    else
      redis.call('SET', KEYS[3], now)
    end
    redis.call('DEL', KEYS[1])
    redis.call('HDEL', KEYS[2], 'until')
    locked, account_wait = 1, lock_ms
  end
elseif outcome == 'ok' then
  redis.call('DEL', KEYS[1])
  redis.call('HDEL', KEYS[2], 'until')
end
settle(KEYS[2])
settle(KEYS[5])
return {locked, account_count, account_wait, address_count, address_wait}
"""


@dataclass(frozen=True)
class LoginPolicy:
    """The thresholds, from the settings (defaults and limits: samvad/settings.py, README)."""

    backoff_after: int
    backoff_base_s: float
    backoff_max_s: float
    lock_after: int
    window_s: int
    lock_s: int
    address_backoff_after: int
    hash_concurrency: int
    hash_wait_s: float

    @classmethod
    def of(cls, settings: Any) -> LoginPolicy:
        return cls(
            backoff_after=settings.login_backoff_after,
            backoff_base_s=settings.login_backoff_base_s,
            backoff_max_s=settings.login_backoff_max_s,
            lock_after=settings.login_lock_after,
            window_s=settings.login_failure_window_s,
            lock_s=settings.login_lock_s,
            address_backoff_after=settings.login_address_backoff_after,
            hash_concurrency=settings.login_hash_concurrency,
            hash_wait_s=settings.login_hash_wait_s,
        )


# --- who is logging in ---------------------------------------------------------------------

def _bounded(text: str, *, hashed: bool = False) -> str:
    """A key part: short plain text as it is, anything else (or a number) as a digest.

    Plain parts have no ``:``, so no typed name can pose as ``id:7`` or a digest.
    """
    if not hashed and 0 < len(text) <= 64 and text.isprintable() and ":" not in text:
        return text
    return "h:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass(frozen=True)
class StaffAccount:
    """What a login needs of an employee row (a copy: no database session needed later)."""

    id: int
    username: str | None
    active: bool
    password_hash: str | None
    tenant_code: str | None


@dataclass(frozen=True)
class LoginName:
    """A login name as typed (stripped), its phone number when it reads as one, and the
    staff account it names (None: nobody, a citizen or an unknown name)."""

    typed: str
    phone: str | None
    user: StaffAccount | None

    @property
    def account(self) -> str:
        """The account's key: the username of the matched account (so its username and its
        phone number share one count), else the name as typed (a number hashed)."""
        if self.user is not None:
            return self.user.username or f"id:{self.user.id}"
        if self.phone:
            return _bounded(self.phone, hashed=True)
        return _bounded(self.typed.lower())

    @property
    def shown(self) -> str:
        """For logs: the username, or the name as typed with any number masked."""
        if self.user is not None and self.user.username:
            return self.user.username
        if self.phone:
            return mask_phone(self.phone)
        return self.typed[:64]


def _as_phone(login_name: str) -> str | None:
    if not login_name or login_name[0] not in "+0123456789":
        return None
    try:
        return normalize_phone(login_name)
    except BadRequest:
        return None


async def find_login(session: AsyncSession, login_name: str) -> LoginName:
    """The employee a login name (username or any spelling of their number) names."""
    typed = login_name.strip()
    phone = _as_phone(typed)
    query = select(User).where(User.kind == UserKind.EMPLOYEE)
    query = query.where(or_(User.username == typed, User.phone == phone) if phone
                        else User.username == typed)
    user = await session.scalar(query)
    if user is None:
        return LoginName(typed, phone, None)
    return LoginName(typed, phone, StaffAccount(user.id, user.username, user.active,
                                                user.password_hash, user.tenant_code))


def client_address(request: Any) -> str:
    """The caller's address for counting (an IPv6 caller by its /64: one host has many)."""
    host = request.client.host if request.client else ""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return _bounded(host or "unknown")
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)


def account_keys(account: str) -> list[str]:
    base = f"{PREFIX}acct:{account}"
    return [f"{base}:fails", f"{base}:state", f"{base}:lock"]


def address_keys(address: str) -> list[str]:
    base = f"{PREFIX}addr:{address}"
    return [f"{base}:fails", f"{base}:state"]


# --- refusals ------------------------------------------------------------------------------

def _seconds(ms: float) -> int:
    return max(1, math.ceil(ms / 1000))


def _too_many(code: str, message: str, wait_ms: float) -> TooManyRequests:
    seconds = _seconds(wait_ms)
    return TooManyRequests(message.format(seconds=seconds), code=code,
                           details={"retry_after": seconds},
                           headers={"Retry-After": str(seconds)})


def _locked(ttl_ms: int) -> Locked:
    if ttl_ms < 0:
        return Locked("This account is locked after repeated failed logins; ask an "
                      "administrator to unlock it.", code="account_locked",
                      details={"retry_after": None})
    seconds = _seconds(ttl_ms)
    minutes = math.ceil(seconds / 60)
    return Locked(f"This account is locked after repeated failed logins; try again in "
                  f"{minutes} minute{'s' if minutes != 1 else ''} or ask an administrator to "
                  "unlock it.", code="account_locked", details={"retry_after": seconds},
                  headers={"Retry-After": str(seconds)})


def _busy(wait_s: float) -> ServiceUnavailable:
    seconds = max(1, math.ceil(wait_s))
    return ServiceUnavailable("Too many logins at once; try again in a moment.",
                              code="login_busy", details={"retry_after": seconds},
                              headers={"Retry-After": str(seconds)})


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable("Logging in is not possible right now; try again shortly.",
                              code="login_unavailable", details={"retry_after": 5},
                              headers={"Retry-After": "5"})


# --- the guard -----------------------------------------------------------------------------

@dataclass
class Attempt:
    """One login between taking its slot and giving it back (``finish``, always)."""

    guard: LoginGuard
    name: LoginName
    address: str
    outcome: str = "abort"  # until the password check starts
    reason: str = "busy"
    finished: bool = False
    failure_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    async def verify(self, password_hash: str, password: str) -> bool:
        """Check the password in a thread, within the guard's concurrency limit."""
        gate, policy = self.guard.gate(), self.guard.policy
        if gate.locked():
            if policy.hash_wait_s <= 0:
                raise _busy(1)
            try:
                async with asyncio.timeout(policy.hash_wait_s):
                    await gate.acquire()
            except TimeoutError:
                raise _busy(policy.hash_wait_s) from None
        else:
            await gate.acquire()
        # From here on the check counts as a failure unless it succeeds: a caller who
        # disconnects mid-check must not get a free guess.
        self.outcome, self.reason = "fail", "wrong_password"
        checker = self.guard.checker
        future = asyncio.get_running_loop().run_in_executor(None, checker, password_hash,
                                                            password)
        future.add_done_callback(lambda _: gate.release())  # when the thread is done
        return await asyncio.shield(future)

    def failed(self, reason: str) -> None:
        self.outcome, self.reason = "fail", reason

    def succeeded(self) -> None:
        self.outcome, self.reason = "ok", "ok"

    async def finish(self) -> None:
        """Give the slot back and record the outcome (survives the caller's cancellation)."""
        if self.finished:
            return
        self.finished = True
        await asyncio.shield(self.guard.record(self))


class LoginGuard:
    """Throttles the staff logins of one app (its Redis, its policy, its check gate)."""

    def __init__(self, redis: Redis, policy: LoginPolicy,
                 clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.policy = policy
        self.clock = clock
        self.checker: Callable[[str | None, str], bool] = tokens.verify_password
        self._begin = redis.register_script(_BEGIN)
        self._end = redis.register_script(_END)
        self._gates: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None

    def gate(self) -> asyncio.Semaphore:
        """The password-check semaphore of the running event loop."""
        loop = asyncio.get_running_loop()
        if self._gates is None or self._gates[0] is not loop:
            self._gates = (loop, asyncio.Semaphore(self.policy.hash_concurrency))
        return self._gates[1]

    def _keys(self, name: LoginName, address: str) -> list[str]:
        return [*account_keys(name.account), *address_keys(address)]

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def begin(self, name: LoginName, address: str) -> Attempt:
        """Take a slot for one password check, or raise the refusal (423, 429, 503)."""
        policy = self.policy
        try:
            verdict, wait_ms = await self._begin(
                keys=self._keys(name, address),
                args=[self._now_ms(), policy.window_s * 1000, policy.backoff_after,
                      policy.address_backoff_after, LEASE_MS, PENDING_RETRY_MS])
        except RedisError as exc:
            self._refused(name, address, "unavailable", None, error=type(exc).__name__)
            raise _unavailable() from exc
        verdict = verdict.decode() if isinstance(verdict, bytes) else str(verdict)
        wait_ms = int(wait_ms)
        if verdict == "ok":
            return Attempt(self, name, address)
        if verdict == "locked":
            self._refused(name, address, "locked", wait_ms)
            raise _locked(wait_ms)
        if verdict == "account":
            self._refused(name, address, "account_backoff", wait_ms)
            raise _too_many("login_backoff", "Too many failed logins for this account; try "
                            "again in {seconds} s.", wait_ms)
        self._refused(name, address, "address_backoff", wait_ms)
        raise _too_many("login_address_backoff", "Too many failed logins from your address; "
                        "try again in {seconds} s.", wait_ms)

    async def record(self, attempt: Attempt) -> None:
        policy = self.policy
        name, address = attempt.name, attempt.address
        try:
            result = await self._end(
                keys=self._keys(name, address),
                args=[self._now_ms(), attempt.outcome, attempt.failure_id,
                      policy.window_s * 1000, policy.backoff_after, policy.lock_after,
                      policy.address_backoff_after, int(policy.backoff_base_s * 1000),
                      int(policy.backoff_max_s * 1000), policy.lock_s * 1000, LEASE_MS])
        except RedisError as exc:
            log.error("login_not_recorded", security="login", username=name.shown,
                      client=address, outcome=attempt.outcome, error=type(exc).__name__)
            if attempt.outcome == "fail":
                FAILURES.labels(attempt.reason).inc()
            return
        locked, account_count, account_wait, address_count, address_wait = map(int, result)
        if attempt.outcome == "ok":
            log.info("login_succeeded", security="login", username=name.shown, client=address)
            return
        if attempt.outcome == "abort":
            self._refused(name, address, attempt.reason, policy.hash_wait_s * 1000)
            return
        FAILURES.labels(attempt.reason).inc()
        log.warning("login_failed", security="login", reason=attempt.reason,
                    username=name.shown, client=address, account_failures=account_count,
                    address_failures=address_count, window_s=policy.window_s)
        if locked:
            LOCKOUTS.inc()
            log.warning("login_locked", security="login", username=name.shown, client=address,
                        failures=account_count, lock_s=policy.lock_s or None)
        elif account_wait:
            BACKOFFS.labels("account").inc()
            log.warning("login_backoff", security="login", scope="account",
                        username=name.shown, client=address, failures=account_count,
                        retry_after_s=_seconds(account_wait))
        if address_wait:
            BACKOFFS.labels("address").inc()
            log.warning("login_backoff", security="login", scope="address",
                        username=name.shown, client=address, failures=address_count,
                        retry_after_s=_seconds(address_wait))

    def _refused(self, name: LoginName, address: str, reason: str, wait_ms: float | None,
                 **extra: Any) -> None:
        FAILURES.labels(reason).inc()
        log.warning("login_refused", security="login", reason=reason, username=name.shown,
                    client=address,
                    retry_after_s=_seconds(wait_ms) if wait_ms and wait_ms > 0 else None,
                    **extra)


def guard_of(app: Any) -> LoginGuard:
    """The app's login guard, made on first use from its Redis client and settings."""
    guard: LoginGuard | None = getattr(app.state, "login_guard", None)
    if guard is None or guard.redis is not app.state.redis:
        guard = LoginGuard(app.state.redis, LoginPolicy.of(app.state.settings))
        app.state.login_guard = guard
    return guard


# --- unlocking -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Unlocked:
    account: str
    was_locked: bool
    failures_cleared: int


async def unlock(redis: Redis, name: LoginName, *, by: str) -> Unlocked:
    """Lift the lock and the back-off of the account ``name`` names; clear its failures."""
    fails, state, lock = account_keys(name.account)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.exists(lock)
        pipe.zcard(fails)
        pipe.delete(fails, state, lock)
        was_locked, failures, _ = await pipe.execute()
    log.warning("login_unlocked", security="login", username=name.shown, by=by,
                was_locked=bool(was_locked), failures_cleared=int(failures))
    return Unlocked(name.account, bool(was_locked), int(failures))

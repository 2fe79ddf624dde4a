"""Throttles for sign-in and sign-up: growing delays per account and per address, sign-ups per hour.

Why delays and not lockouts: a lockout lets anyone who knows a user id keep its owner out
with a few typos. Here each failed login makes the next attempt on the same account (and
from the same address) wait a little longer, capped at `account_delay_max_s`, so the right
password always gets through within seconds. The address counter is never reset by a
success (an attacker cannot clear it by logging into an account of its own); a success
clears only its own account's counter. Counters are forgotten `forget_after_s` after the
last failure.

The client address comes from the socket; `X-Forwarded-For` is believed only when the
socket peer is one of the configured trusted proxies (GRIDLEDGER_TRUSTED_PROXIES).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from webapp.errors import TooManyAttempts

KEYS_MAX = 100_000  # remembered counters; beyond this the oldest are dropped
FORWARDED_HOPS_MAX = 20  # X-Forwarded-For entries looked at


@dataclass(frozen=True, slots=True)
class DelayRule:
    """`free` failures cost nothing; the next waits `base_s`, doubling each time up to `max_s`."""

    free: int
    base_s: float
    max_s: float

    def delay_s(self, failures: int) -> float:
        over = failures - self.free
        if over <= 0:
            return 0.0
        return min(self.max_s, self.base_s * float(2 ** min(over - 1, 30)))


ACCOUNT_RULE = DelayRule(free=3, base_s=1.0, max_s=30.0)  # the owner waits seconds, never minutes
ADDRESS_RULE = DelayRule(free=10, base_s=1.0, max_s=120.0)  # one address may serve an office
FORGET_AFTER_S = 900.0


@dataclass(slots=True)
class _Counter:
    failures: int
    last_s: float


class LoginThrottle:
    """Growing delays per account and per address; `check` raises TOO_MANY_ATTEMPTS (429) with retry_after_s."""

    def __init__(
        self,
        account_rule: DelayRule = ACCOUNT_RULE,
        address_rule: DelayRule = ADDRESS_RULE,
        forget_after_s: float = FORGET_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.account_rule = account_rule
        self.address_rule = address_rule
        self.forget_after_s = forget_after_s
        self.clock = clock
        self._counters: dict[str, _Counter] = {}
        self._lock = threading.Lock()

    def _wait_s(self, key: str, rule: DelayRule, now: float) -> float:
        counter = self._counters.get(key)
        if counter is None:
            return 0.0
        if now - counter.last_s > self.forget_after_s:
            del self._counters[key]
            return 0.0
        return max(0.0, counter.last_s + rule.delay_s(counter.failures) - now)

    def check(self, account: str, address: str) -> None:
        """Refuses an attempt that comes before the delay earned by earlier failures."""
        now = self.clock()
        with self._lock:
            wait = max(self._wait_s(f"acct:{account}", self.account_rule, now), self._wait_s(f"addr:{address}", self.address_rule, now))
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise TooManyAttempts(
                "TOO_MANY_ATTEMPTS", f"Too many failed logins; wait {seconds} seconds and try again.", retry_after_s=seconds
            )

    def failed(self, account: str, address: str) -> None:
        now = self.clock()
        with self._lock:
            if len(self._counters) >= KEYS_MAX:
                for key in sorted(self._counters, key=lambda k: self._counters[k].last_s)[: KEYS_MAX // 10]:
                    del self._counters[key]
            for key in (f"acct:{account}", f"addr:{address}"):
                counter = self._counters.get(key)
                if counter is None or now - counter.last_s > self.forget_after_s:
                    self._counters[key] = _Counter(1, now)
                else:
                    counter.failures += 1
                    counter.last_s = now

    def succeeded(self, account: str) -> None:
        """The account's owner proved its password: its delay goes; no address counter changes."""
        with self._lock:
            self._counters.pop(f"acct:{account}", None)


class SignupLimiter:
    """At most `per_hour` accounts created from one address in any hour (TOO_MANY_SIGNUPS, 429)."""

    WINDOW_S = 3600.0

    def __init__(self, per_hour: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_hour = per_hour
        self.clock = clock
        self._created: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _window(self, address: str, now: float) -> deque[float]:
        window = self._created.setdefault(address, deque())
        while window and window[0] <= now - self.WINDOW_S:
            window.popleft()
        return window

    def check(self, address: str) -> None:
        now = self.clock()
        with self._lock:
            window = self._window(address, now)
            if len(window) >= self.per_hour:
                wait = max(1, math.ceil(window[0] + self.WINDOW_S - now))
                raise TooManyAttempts(
                    "TOO_MANY_SIGNUPS",
                    f"At most {self.per_hour} accounts can be created from one address per hour; try again in {wait} seconds.",
                    retry_after_s=wait,
                )

    def created(self, address: str) -> None:
        now = self.clock()
        with self._lock:
            if len(self._created) >= KEYS_MAX:
                self._created.clear()
            self._window(address, now).append(now)


def client_address(peer: str | None, headers: Mapping[str, str], trusted_proxies: Collection[str]) -> str:
    """The socket peer, or, when it is a trusted proxy, the nearest untrusted hop of X-Forwarded-For."""
    address = peer or "?"
    if address not in trusted_proxies:
        return address
    forwarded = headers.get("x-forwarded-for", "")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()][-FORWARDED_HOPS_MAX:]
    for hop in reversed(hops):
        if hop not in trusted_proxies:
            return hop
    return hops[0] if hops else address

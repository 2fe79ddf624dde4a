"""Logged-in sessions: the unlocked signing key lives here, in server memory only.

A session is found by a random token (the `gl_session` cookie for pages, `Authorization:
Bearer` for the API). Logout or expiry drops the token and the key with it.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

from ledger.core.identity import SigningIdentity

SESSION_COOKIE = "gl_session"
SESSIONS_MAX = 10_000


@dataclass(slots=True)
class UserSession:
    token: str
    username: str
    display_name: str
    is_admin: bool
    identity: SigningIdentity
    expires_at: float

    @property
    def identity_id(self) -> str:
        return self.identity.id


class SessionRegistry:
    def __init__(self, ttl_s: int) -> None:
        self.ttl_s = ttl_s
        self._sessions: dict[str, UserSession] = {}
        self._lock = threading.Lock()

    def open(self, username: str, display_name: str, is_admin: bool, identity: SigningIdentity) -> UserSession:
        token = secrets.token_urlsafe(32)
        session = UserSession(token, username, display_name, is_admin, identity, time.time() + self.ttl_s)
        with self._lock:
            self._drop_expired()
            if len(self._sessions) >= SESSIONS_MAX:
                oldest = min(self._sessions.values(), key=lambda s: s.expires_at)
                del self._sessions[oldest.token]
            self._sessions[token] = session
        return session

    def get(self, token: str | None) -> UserSession | None:
        if not token:
            return None
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                return None
            if session.expires_at < time.time():
                del self._sessions[token]
                return None
            return session

    def close(self, token: str | None) -> None:
        with self._lock:
            self._sessions.pop(token or "", None)

    def close_user(self, username: str) -> None:
        with self._lock:
            for token in [t for t, s in self._sessions.items() if s.username == username]:
                del self._sessions[token]

    def _drop_expired(self) -> None:
        now = time.time()
        for token in [t for t, s in self._sessions.items() if s.expires_at < now]:
            del self._sessions[token]

"""Console settings: every limit is a named value with its unit last."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

DATASET_BYTES_MAX = 5 * 1024 * 1024  # uploads beyond this are refused with 413
REQUEST_BODY_BYTES_MAX = DATASET_BYTES_MAX + 256 * 1024  # the form fields around the file
REASON_LENGTH_MAX = 500
NAME_LENGTH_MAX = 64
TOKEN_AMOUNT_MAX = 1_000_000_000


@dataclass(frozen=True, slots=True)
class AutoApprovalRules:
    """Requests approved without a person, signed by the regulator's service identity. Off by default."""

    topup_below_tokens: int | None = None  # approve top-ups strictly below this amount


@dataclass(frozen=True, slots=True)
class Settings:
    user_org: str = "Org1"  # the organization whose CA certifies console sign-ups
    cookie_secure: bool = False  # True behind HTTPS; False keeps http://127.0.0.1 working
    session_ttl_s: int = 8 * 3600
    request_ttl_s: int = 7 * 24 * 3600  # undecided requests expire after this
    warn_amount_above_tokens: int = 10_000  # top-ups and prices above this are flagged
    signups_per_hour: int = 5  # accounts created from one client address in any hour
    trusted_proxies: tuple[str, ...] = ()  # socket peers whose X-Forwarded-For is believed
    dataset_bytes_max: int = DATASET_BYTES_MAX
    submit_timeout_s: float = 30.0  # then the request stays "submitted" and is settled from the ledger
    reconcile_interval_s: float = 15.0  # unsettled requests are looked up on the ledger this often
    reconcile_absent_after_s: float = 120.0  # absent from the ledger this long after approval: re-proposable
    auto_approval: AutoApprovalRules = field(default_factory=AutoApprovalRules)
    fast_kdf: bool = False  # cheapest argon2id parameters (tests only)

    @classmethod
    def from_env(cls) -> "Settings":
        """GRIDLEDGER_COOKIE_SECURE=1, GRIDLEDGER_REQUEST_TTL_S, GRIDLEDGER_AUTO_TOPUP_BELOW, GRIDLEDGER_FAST_KDF=1,
        GRIDLEDGER_SIGNUPS_PER_HOUR, GRIDLEDGER_TRUSTED_PROXIES (comma-separated addresses)."""
        env = os.environ
        below = env.get("GRIDLEDGER_AUTO_TOPUP_BELOW")
        return cls(
            cookie_secure=env.get("GRIDLEDGER_COOKIE_SECURE") == "1",
            request_ttl_s=int(env.get("GRIDLEDGER_REQUEST_TTL_S", 7 * 24 * 3600)),
            warn_amount_above_tokens=int(env.get("GRIDLEDGER_WARN_AMOUNT_ABOVE", 10_000)),
            auto_approval=AutoApprovalRules(topup_below_tokens=int(below) if below else None),
            fast_kdf=env.get("GRIDLEDGER_FAST_KDF") == "1",
            signups_per_hour=int(env.get("GRIDLEDGER_SIGNUPS_PER_HOUR", 5)),
            trusted_proxies=tuple(p.strip() for p in env.get("GRIDLEDGER_TRUSTED_PROXIES", "").split(",") if p.strip()),
        )

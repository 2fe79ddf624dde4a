"""Dry run on the review desk: before an administrator approves, the request is endorsed
(simulated on the peers) without ordering, so the page shows what it would write or the
refusal it would get. Until this existed, ASSET_EXISTS or INSUFFICIENT_BALANCE showed up
only after the approval.

The simulation carries the parties' signoffs and the viewing administrator's approval, as
an approval would: without the approval every write is refused (MISSING_ADMIN_APPROVAL) and
nothing would be learned. The endorsements are thrown away; only the gateway, which holds
the administrator's key, could order them, and it is never asked to.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import structlog

from ledger.core.codes import EndorserCode, GatewayCode
from ledger.core.identity import SigningIdentity
from webapp.chain import Chain, Simulation, decode_invocation, decode_signoffs
from webapp.db import ReviewRequest

log = structlog.get_logger("webapp.dryrun")

VALUE_CHARS_SHOWN_MAX = 4000  # a written value longer than this is cut on the page
WOULD_COMMIT = "would_commit"
WOULD_FAIL = "would_fail"
UNAVAILABLE = "unavailable"

# Codes that say the simulation could not be run, not that the ledger refuses the request.
UNAVAILABLE_CODES = frozenset(
    {
        EndorserCode.PEER_UNAVAILABLE,
        EndorserCode.PEER_ERROR,
        GatewayCode.NO_ENDORSERS,
        GatewayCode.ENDORSEMENT_TIMEOUT,
        GatewayCode.ENDORSEMENT_MISMATCH,
        "LEDGER_ERROR",
    }
)


@dataclass(frozen=True, slots=True)
class WrittenKey:
    key: str
    value: str  # decoded: pretty JSON, else UTF-8 text, else hex
    deleted: bool


@dataclass(frozen=True, slots=True)
class DryRun:
    outcome: str  # WOULD_COMMIT, WOULD_FAIL or UNAVAILABLE
    code: str  # "" when it would commit
    message: str
    writes: list[WrittenKey] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "code": self.code,
            "message": self.message,
            "writes": [{"key": w.key, "value": w.value, "deleted": w.deleted} for w in self.writes],
            "reads": list(self.reads),
        }


def _unnest(value: Any) -> Any:
    """A record's fields that hold JSON text (an asset's Metadata) decoded one level, so the
    reviewer reads them as fields rather than escaped quotes."""
    if not isinstance(value, dict):
        return value
    shown = dict(value)
    for name, item in value.items():
        if isinstance(item, str) and item[:1] in ("{", "["):
            try:
                shown[name] = json.loads(item)
            except ValueError:
                pass
    return shown


def decode_value(raw: bytes) -> str:
    """A written value as a person reads it: state values are JSON or text."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + raw.hex()[:VALUE_CHARS_SHOWN_MAX]
    try:
        text = json.dumps(_unnest(json.loads(text)), indent=2, sort_keys=True, ensure_ascii=False)
    except ValueError:
        pass
    return text if len(text) <= VALUE_CHARS_SHOWN_MAX else text[:VALUE_CHARS_SHOWN_MAX] + "…"


def from_simulation(sim: Simulation) -> DryRun:
    if sim.ok:
        writes = [WrittenKey(key, "" if deleted else decode_value(value), deleted) for key, value, deleted in sim.writes]
        return DryRun(WOULD_COMMIT, "", f"Approving would write {len(writes)} key(s); nothing has been written yet.", writes, list(sim.reads))
    outcome = UNAVAILABLE if sim.code in UNAVAILABLE_CODES else WOULD_FAIL
    return DryRun(outcome, sim.code, sim.message)


def dry_run(chain: Chain, req: ReviewRequest, approver: SigningIdentity) -> DryRun:
    """Simulate `req` as `approver` would submit it; never raises (the page must render)."""
    try:
        signoffs = decode_signoffs(req.signoffs_json) + [chain.signoff("approval", approver, req.tx_id)]
        sim = chain.simulate(approver, decode_invocation(req.invocation_hex), signoffs)
    except Exception as exc:  # a transport or peer fault: say so, approve stays possible
        log.warning("dry_run_failed", request_id=req.id, error=repr(exc))
        return DryRun(UNAVAILABLE, "LEDGER_ERROR", f"The peers could not simulate the request now: {exc}")
    return from_simulation(sim)


def dry_run_accepting(chain: Chain, req: ReviewRequest, accepter: SigningIdentity) -> DryRun:
    """What a transfer awaiting acceptance would do once `accepter` (its counterparty) signs and an
    administrator approves: the accepter's party signoff is made but never stored, and the
    console's service identity stands in for the reviewing administrator. Never raises."""
    try:
        signoffs = decode_signoffs(req.signoffs_json) + [chain.signoff("party", accepter, req.tx_id)]
        service = chain.service_identity()
        sim = chain.simulate(service, decode_invocation(req.invocation_hex), [*signoffs, chain.signoff("approval", service, req.tx_id)])
    except Exception as exc:  # a transport or peer fault: say so, accepting stays possible
        log.warning("acceptance_dry_run_failed", request_id=req.id, error=repr(exc))
        return DryRun(UNAVAILABLE, "LEDGER_ERROR", f"The peers could not simulate the request now: {exc}")
    run = from_simulation(sim)
    if run.outcome == WOULD_COMMIT:
        return DryRun(run.outcome, "", f"Accepting, then an administrator's approval, would write {len(run.writes)} key(s); nothing has been written yet.", run.writes, run.reads)
    return run

"""Helpers for the ledger's tests: a party that signs, submit with signoffs, hand-made envelopes.

Everything here goes through the real embedded network (`Network.open`) and the gateway's
own public steps (`propose`, `endorse`, `assemble`), so a test that builds an envelope by
hand changes exactly one thing and keeps the rest genuine.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ADMIN_PASSWORD = "console-admin-pw"  # the console admin's password in the test networks

from ledger.core.codes import ValidationCode
from ledger.core.encoding import decode
from ledger.core.identity import SigningIdentity
from ledger.core.messages import Block, Invocation, Signoff, compute_tx_id
from ledger.gateway import Gateway, SubmitResult, make_signoff
from ledger.node.network import Network

ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(ROOT / ".venv" / "bin" / "python")
CLI = [PYTHON, "-c", "from ledger.tools.cli import app; app()"]
COMMIT_WAIT_S = 20.0


def meta(content: str) -> str:
    """Metadata as the console writes it: the off-ledger file's SHA-256 plus a description."""
    return json.dumps({"sha256": hashlib.sha256(content.encode()).hexdigest(), "description": content})


def approver(net: Network) -> SigningIdentity:
    return net.service_identity(net.approver_org)


def signoffs_for(net: Network, tx_id: str, parties: Sequence[SigningIdentity], *, approval: bool = True) -> list[Signoff]:
    out = [make_signoff("party", p, tx_id) for p in parties]
    if approval:
        out.append(make_signoff("approval", approver(net), tx_id))
    return out


def submit(net: Network, user: SigningIdentity, function: str, *args: Any, cosign: Sequence[SigningIdentity] = (), approval: bool = True) -> SubmitResult:
    """Submit as `user` (party), with `cosign` parties and the regulator admin's approval."""
    gateway = net.gateway(user)
    invocation = gateway.new_invocation(function, [str(a) for a in args])
    tx_id = compute_tx_id(invocation)
    result = gateway.submit(invocation, signoffs_for(net, tx_id, [user, *cosign], approval=approval))
    # `submit` returns once its own commit peer committed; the next proposal may go to another
    # peer, so wait until every peer has the block (else it could simulate on stale state).
    wait_committed(net, result.block)
    return result


def wait_committed(net: Network, number: int) -> None:
    """Wait until every peer has applied block `number` to its state (a peer's height counts
    blocks appended and applied; peers in their own processes report it with commit events)."""
    deadline = time.monotonic() + COMMIT_WAIT_S
    while time.monotonic() < deadline:
        if all(p.height > number for p in net.peers):
            return
        time.sleep(0.002)
    raise AssertionError(f"peers did not commit block {number}: {[s.as_dict() for s in net.status()]}")


def query(net: Network, function: str, *args: Any) -> Any:
    return net.gateway(net.client_identity("Org1", "reader")).evaluate_json(function, [str(a) for a in args])


def balance(net: Network, user_id: str) -> int:
    return query(net, "queryUser", user_id)["Token"]


@dataclass
class Prepared:
    """An endorsed, signed envelope not yet broadcast."""

    gateway: Gateway
    invocation: Invocation
    tx_id: str
    proposal_bytes: bytes
    payload_bytes: bytes
    envelope: bytes


def endorse(
    net: Network,
    user: SigningIdentity,
    function: str,
    *args: Any,
    cosign: Sequence[SigningIdentity] = (),
    make_signoffs: Callable[[str], Sequence[Signoff]] | None = None,
    peers: Sequence[Any] | None = None,
) -> Prepared:
    """Steps 1 and the envelope of step 2, exactly as `Gateway.submit` does, without broadcasting."""
    gateway = net.gateway(user)
    invocation = gateway.new_invocation(function, [str(a) for a in args])
    tx_id = compute_tx_id(invocation)
    chosen_signoffs = signoffs_for(net, tx_id, [user, *cosign]) if make_signoffs is None else list(make_signoffs(tx_id))
    signed = gateway.propose(invocation, chosen_signoffs)
    responses, payload = gateway.endorse(invocation.chaincode, signed, peers=peers)
    envelope = gateway.assemble(signed, payload, responses)
    return Prepared(gateway, invocation, tx_id, signed.proposal, responses[0].payload, envelope)


def broadcast_and_wait(net: Network, envelope: bytes, *, via_queue: bool = False) -> tuple[int, ValidationCode]:
    """Order an envelope and wait for the peers' verdict on it: (block number, code).

    The verdict is read from the committed block's flags (every peer's, asserted equal),
    not from the commit event: a transaction whose creator check fails is reported in the
    event without its tx id. `via_queue` skips the orderer's broadcast checks (as a faulty
    or malicious orderer would), so the envelope reaches the peers' validators.
    """
    first = net.orderer.height
    if via_queue:
        net.orderer.enqueue_unchecked(envelope)
    else:
        accepted = net.orderer.broadcast(envelope)
        assert accepted.accepted, f"orderer refused: {accepted.code} {accepted.message}"
    deadline = time.monotonic() + COMMIT_WAIT_S
    number = first
    while time.monotonic() < deadline:
        if number < net.orderer.height:
            wait_committed(net, number)
            data = block_of(net.peers[0], number).data
            if envelope in data:
                return number, flags_of(net, number)[data.index(envelope)]
            number += 1
        else:
            time.sleep(0.005)
    raise AssertionError("the envelope was not committed in time")


def outcomes(net: Network, futures: Sequence[Future[tuple[int, ValidationCode]]]) -> list[tuple[int, ValidationCode]]:
    """Results of commit-waiter futures, once every peer has applied the blocks they name."""
    results = [f.result(timeout=COMMIT_WAIT_S) for f in futures]
    wait_committed(net, max(number for number, _ in results))
    return results


def wait_in_sync(net: Network) -> tuple[int, str]:
    """Wait until every peer reaches the orderer's height; return the (height, commit hash) they share."""
    wait_committed(net, net.orderer.height - 1)
    # A peer's status pairs its block files' height with its cached commit hash, which is set
    # a moment after the state commits: poll briefly rather than read one racy snapshot.
    deadline = time.monotonic() + COMMIT_WAIT_S
    while len(status := {(s.height, s.commit_hash) for s in net.status()}) > 1 and time.monotonic() < deadline:
        time.sleep(0.002)
    assert len(status) == 1, f"peers disagree: {[s.as_dict() for s in net.status()]}; {first_divergence(net)}"
    return status.pop()


def first_divergence(net: Network) -> str:
    """Where the peers' stored blocks first differ (for a failure message)."""
    for number in range(min(p.height for p in net.peers)):
        blocks = [block_of(p, number) for p in net.peers]
        if len({(b.metadata.commit_hash, b.metadata.validation_flags) for b in blocks}) > 1:
            return f"block {number}: flags {[list(b.metadata.validation_flags) for b in blocks]}"
    return f"stored blocks agree; heights {[p.height for p in net.peers]}"


def flags_of(net: Network, number: int) -> list[ValidationCode]:
    """Validation codes of block `number` as every peer stored them (asserted equal)."""
    per_peer = {tuple(block_of(p, number).metadata.validation_flags) for p in net.peers}
    assert len(per_peer) == 1, f"peers stored different flags for block {number}: {per_peer}"
    return [ValidationCode(f) for f in per_peer.pop()]


def block_of(peer: Any, number: int) -> Block:
    """A peer's stored block `number`, decoded (peers hand out encoded blocks)."""
    return decode(peer.block(number), Block)


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a fresh process."""
    full_env = {**os.environ, "GRIDLEDGER_FAST_KDF": "1", "GRIDLEDGER_LOG_LEVEL": "WARNING", **(env or {})}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=full_env, cwd=ROOT, timeout=timeout)


def cli_json(*args: str, env: dict[str, str] | None = None) -> tuple[int, Any]:
    done = cli(*args, env=env)
    try:
        document = json.loads(done.stdout)
    except ValueError:
        raise AssertionError(f"not JSON (exit {done.returncode}): {done.stdout!r} {done.stderr[-2000:]!r}") from None
    return done.returncode, document


def python_subprocess(code: str, *, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "GRIDLEDGER_FAST_KDF": "1", "GRIDLEDGER_LOG_LEVEL": "WARNING", **(env or {})}
    return subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, env=full_env, cwd=ROOT, timeout=timeout)


"""Step 1 of execute → order → validate → commit: endorse a proposal.

The endorser checks the signed proposal (creator membership and signature, transaction id,
channel, chaincode, signoffs), simulates the chaincode against its own world state without
writing, refuses writes that lack the supervision approval, and signs the outcome.
"""

from __future__ import annotations

import traceback
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

import msgspec
import structlog

from ledger.core.channel import Channel
from ledger.core.codes import EndorserCode, SimulationCode
from ledger.core.encoding import decode, encode, sha256
from ledger.core.errors import LedgerError, MembershipError
from ledger.core.identity import Identity, SigningIdentity
from ledger.core.messages import (
    STATUS_ERROR,
    STATUS_OK,
    STATUS_REFUSED,
    Endorsement,
    Proposal,
    ProposalResponse,
    ReadWriteSet,
    ResponsePayload,
    SignedProposal,
    compute_tx_id,
    signoff_message,
)
from ledger.execute.chaincode_api import ChaincodeRefusal, VerifiedSignoff
from ledger.execute.chaincodes import ChaincodeRegistry
from ledger.execute.simulator import StateReader, TxSimulator

log = structlog.get_logger("endorser")
EMPTY_RWSET = ReadWriteSet((), (), ())

SIGNOFFS_MAX = 8
ARGS_MAX = 16
ARG_BYTES_MAX = 256 * 1024
SIGNOFF_KINDS = ("party", "approval")


class EndorserRefusal(LedgerError):
    """The proposal is refused before or instead of simulation (not signed); code: EndorserCode."""


@dataclass(frozen=True, slots=True)
class CheckedProposal:
    proposal: Proposal
    proposal_bytes: bytes  # as signed by the creator; its hash binds the response to it
    creator: Identity
    signoffs: tuple[VerifiedSignoff, ...]


class SnapshotReader(StateReader, Protocol):
    """A state snapshot as the endorser reads it: the chaincode's reads and the tx index."""

    def tx_location(self, tx_id: str) -> tuple[int, int, int] | None: ...


class StateSource(Protocol):
    """What the endorser needs of its peer's storage: snapshots to read."""

    def snapshot(self, *, at_first_read: bool = False) -> AbstractContextManager[SnapshotReader]: ...


class Endorser:
    def __init__(self, identity: SigningIdentity, channel: Channel, state: StateSource) -> None:
        self.identity = identity
        self.channel = channel
        self.state = state
        self.chaincodes = ChaincodeRegistry(channel)

    def endorse(self, signed: SignedProposal) -> ProposalResponse:
        """Check, simulate, sign. Refusals by the chaincode come back signed with status 400."""
        payload = self.simulate(self.check(signed), enforce_approval=True, refuse_replay=True)
        payload_bytes = encode(payload)
        return ProposalResponse(payload_bytes, Endorsement(self.identity.cert_bytes, self.identity.sign(payload_bytes)))

    def evaluate(self, signed: SignedProposal) -> ResponsePayload:
        """A query: simulate and return the outcome; nothing is signed or ordered."""
        return self.simulate(self.check(signed), enforce_approval=False)

    def check(self, signed: SignedProposal) -> CheckedProposal:
        try:
            proposal = decode(signed.proposal, Proposal)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise EndorserRefusal(EndorserCode.BAD_PAYLOAD, f"proposal cannot be decoded: {exc}") from None
        creator = self._member(proposal.creator)
        if not creator.verify(signed.proposal, signed.signature):
            raise EndorserRefusal(EndorserCode.BAD_CREATOR_SIGNATURE, f"the proposal is not signed by its creator {creator.id}")
        invocation = proposal.invocation
        if invocation.channel != self.channel.name:
            raise EndorserRefusal(EndorserCode.BAD_CHANNEL, f"this peer serves channel {self.channel.name}, not {invocation.channel!r}")
        if compute_tx_id(invocation) != proposal.tx_id:
            raise EndorserRefusal(EndorserCode.BAD_TXID, "the transaction id is not the hash of the invocation")
        if self.channel.definition(invocation.chaincode) is None:
            raise EndorserRefusal(EndorserCode.UNKNOWN_CHAINCODE, f"chaincode {invocation.chaincode!r} is not defined on this channel")
        if len(invocation.args) > ARGS_MAX or any(len(arg) > ARG_BYTES_MAX for arg in invocation.args):
            raise EndorserRefusal(EndorserCode.BAD_PAYLOAD, f"at most {ARGS_MAX} arguments of {ARG_BYTES_MAX} bytes each")
        if len(proposal.signoffs) > SIGNOFFS_MAX:
            raise EndorserRefusal(EndorserCode.BAD_SIGNOFF, f"at most {SIGNOFFS_MAX} signoffs per proposal")
        signoffs = []
        for signoff in proposal.signoffs:
            if signoff.kind == "party" and not signoff.signature and signoff.signer == proposal.creator:
                # the creator as a party: its signature over the whole proposal already says so
                signoffs.append(VerifiedSignoff("party", creator))
                continue
            signer = self._member(signoff.signer)
            if signoff.kind not in SIGNOFF_KINDS or not signer.verify(signoff_message(signoff.kind, proposal.tx_id), signoff.signature):
                raise EndorserRefusal(EndorserCode.BAD_SIGNOFF, f"the {signoff.kind!r} signoff of {signer.id} does not verify")
            signoffs.append(VerifiedSignoff(signoff.kind, signer))
        return CheckedProposal(proposal, signed.proposal, creator, tuple(signoffs))

    def _member(self, cert_bytes: bytes) -> Identity:
        try:
            return self.channel.msp.validate(cert_bytes)
        except MembershipError as exc:
            raise EndorserRefusal(EndorserCode.UNKNOWN_IDENTITY, exc.message) from None

    def simulate(self, checked: CheckedProposal, *, enforce_approval: bool, refuse_replay: bool = False) -> ResponsePayload:
        """Run an already checked proposal's chaincode on a state snapshot: the response an
        endorser signs (`endorse`) or returns unsigned (`evaluate`). Fault tests call it to
        get what a peer that skipped the proposal checks would sign.

        refuse_replay: a transaction id already on the ledger is refused (DUPLICATE_TXID),
        asked of the same snapshot the chaincode then reads, as its first read (which pins
        it): two statements fewer per endorsement than a read of its own before a snapshot
        pinned at opening."""
        proposal = checked.proposal
        invocation = proposal.invocation
        with self.state.snapshot(at_first_read=refuse_replay) as reader:
            if refuse_replay and reader.tx_location(proposal.tx_id) is not None:
                raise EndorserRefusal(EndorserCode.DUPLICATE_TXID, f"transaction {proposal.tx_id} is already on the ledger")
            chaincode = self.chaincodes.get(invocation.chaincode)
            simulator = self._simulator(reader, checked)
            status, code, message, result = STATUS_OK, "", "", b""
            try:
                result = chaincode.invoke(simulator)
            except ChaincodeRefusal as refusal:
                status, code, message = STATUS_REFUSED, refusal.code, refusal.message
            except Exception as exc:  # the chaincode broke: a fault, reported, never endorsed
                log.error("chaincode_fault", tx_id=proposal.tx_id, error=repr(exc), trace=traceback.format_exc(limit=5))
                status, code, message = STATUS_ERROR, SimulationCode.CHAINCODE_FAULT, f"the chaincode failed: {exc!r}"
        if status == STATUS_OK and enforce_approval and simulator.has_writes():
            policy = self.channel.approval_policy(invocation.chaincode)
            approvers = [s.identity for s in checked.signoffs if s.kind == "approval"]
            if policy is not None and not policy.satisfied_by(approvers):
                status, code = STATUS_REFUSED, SimulationCode.MISSING_ADMIN_APPROVAL
                message = f"a write needs an administrator's approval satisfying {policy.text}"
        ok = status == STATUS_OK
        return ResponsePayload(
            tx_id=proposal.tx_id,
            proposal_hash=sha256(checked.proposal_bytes),
            status=status,
            code=str(code),
            message=message,
            result=bytes(result) if ok else b"",
            rwset=simulator.read_write_set() if ok else EMPTY_RWSET,
            events=simulator.events() if ok else (),
        )

    def _simulator(self, reader: StateReader, checked: CheckedProposal) -> TxSimulator:
        proposal = checked.proposal
        invocation = proposal.invocation
        return TxSimulator(
            reader,
            channel=invocation.channel,
            chaincode=invocation.chaincode,
            tx_id=proposal.tx_id,
            timestamp_ms=proposal.timestamp_ms,
            function=invocation.function,
            args=invocation.args,
            creator=checked.creator,
            signoffs=checked.signoffs,
        )

"""Reading an endorser transaction out of an envelope: one decoding rule for every reader.

The validator (step 3), the committer's recovery (step 4), the chain check and the
explorer all take a transaction apart here, so they agree byte for byte on what a
transaction is, and on its transaction id.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from ledger.core.encoding import decode
from ledger.core.messages import EndorsedTransaction, Envelope, Payload, PayloadType, Proposal, ResponsePayload


@dataclass(frozen=True, slots=True)
class ParsedTransaction:
    envelope: Envelope
    payload: Payload
    transaction: EndorsedTransaction
    proposal: Proposal
    response: ResponsePayload

    @property
    def tx_id(self) -> str:
        return self.proposal.tx_id


def parse_endorser_transaction(envelope_bytes: bytes) -> ParsedTransaction | None:
    """The parts of an endorser transaction, or None (a CONFIG transaction or undecodable bytes)."""
    try:
        envelope = decode(envelope_bytes, Envelope)
        payload = decode(envelope.payload, Payload)
        if payload.type != PayloadType.ENDORSER_TRANSACTION:
            return None
        transaction = decode(payload.data, EndorsedTransaction)
        proposal = decode(transaction.proposal, Proposal)
        response = decode(transaction.response_payload, ResponsePayload)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return ParsedTransaction(envelope, payload, transaction, proposal, response)

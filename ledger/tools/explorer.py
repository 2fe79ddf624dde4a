"""Read-only views of blocks and transactions for people: the console's explorer and the CLI.

Also proves inclusion: a transaction's Merkle path up to the block header's data hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from ledger.core.codes import ValidationCode, validation_code_name
from ledger.core.encoding import decode, merkle_path, merkle_root, verify_merkle_path
from ledger.core.identity import Certificate
from ledger.core.messages import (
    Block,
    EndorsedTransaction,
    Envelope,
    Payload,
    PayloadType,
    Proposal,
    ResponsePayload,
    block_hash,
)


def identity_id(cert_bytes: bytes) -> str:
    try:
        body = decode(cert_bytes, Certificate).body
        return f"{body.org}/{body.name}"
    except (msgspec.DecodeError, msgspec.ValidationError):
        return "(undecodable certificate)"


def readable(value: bytes) -> str:
    """A written value as text: UTF-8 as is (the contracts write JSON), otherwise hex."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.hex()


def code_name(flags: bytes, tx_num: int) -> str:
    if tx_num >= len(flags):
        return "NOT_VALIDATED"
    return validation_code_name(flags[tx_num])


def describe_transaction(block: Block, tx_num: int) -> dict[str, Any]:
    """Everything a person wants to see about one transaction of a block."""
    envelope_bytes = block.data[tx_num]
    info: dict[str, Any] = {"block": block.header.number, "tx_num": tx_num, "code": code_name(block.metadata.validation_flags, tx_num)}
    try:
        payload = decode(decode(envelope_bytes, Envelope).payload, Payload)
    except (msgspec.DecodeError, msgspec.ValidationError):
        info.update(type="UNDECODABLE", tx_id="")
        return info
    info["creator"] = identity_id(payload.creator)
    if payload.type == PayloadType.CONFIG:
        info.update(type="CONFIG", tx_id="", function="(channel configuration)", args=[], endorsers=[], signoffs=[])
        return info
    transaction = decode(payload.data, EndorsedTransaction)
    proposal = decode(transaction.proposal, Proposal)
    response = decode(transaction.response_payload, ResponsePayload)
    info.update(
        type="ENDORSER_TRANSACTION",
        tx_id=proposal.tx_id,
        timestamp_ms=proposal.timestamp_ms,
        chaincode=proposal.invocation.chaincode,
        function=proposal.invocation.function,
        args=list(proposal.invocation.args),
        endorsers=[identity_id(e.endorser) for e in transaction.endorsements],
        signoffs=[{"kind": s.kind, "id": identity_id(s.signer)} for s in proposal.signoffs],
        reads=[{"key": r.key, "version": list(r.version) if r.version else None} for r in response.rwset.reads],
        writes=[{"key": w.key, "delete": w.is_delete, "bytes": len(w.value), "value": readable(w.value)} for w in response.rwset.writes],
        events=[e.name for e in response.events],
    )
    return info


def describe_block(block: Block) -> dict[str, Any]:
    header = block.header
    return {
        "number": header.number,
        "hash": block_hash(header).hex(),
        "previous_hash": header.previous_hash.hex(),
        "data_hash": header.data_hash.hex(),
        "timestamp_ms": header.timestamp_ms,
        "orderer": identity_id(block.orderer_signature.signer),
        "commit_hash": block.metadata.commit_hash.hex(),
        "tx_count": len(block.data),
        "valid_count": sum(1 for flag in block.metadata.validation_flags if flag == ValidationCode.VALID),
        "transactions": [describe_transaction(block, i) for i in range(len(block.data))],
    }


def inclusion_proof(block: Block, tx_num: int) -> dict[str, Any]:
    """A Merkle path proving that transaction `tx_num` is in `block` (checkable by anyone)."""
    leaves = list(block.data)
    path = merkle_path(leaves, tx_num)
    assert verify_merkle_path(leaves[tx_num], path, merkle_root(leaves)), "a fresh proof must verify"
    return {
        "block": block.header.number,
        "tx_num": tx_num,
        "data_hash": block.header.data_hash.hex(),
        "path": [{"sibling": sibling.hex(), "left": left} for sibling, left in path],
    }


@dataclass(frozen=True, slots=True)
class TxSummary:
    """One transaction of a block as indexes fed from blocks need it (no signatures)."""

    tx_num: int
    tx_id: str  # "" for a configuration or undecodable transaction
    code: str  # validation code name
    timestamp_ms: int
    writes: list[tuple[str, bytes, bool]]  # (full key, value, is_delete) as proposed; applied only when VALID


def block_transactions(block: Block) -> list[TxSummary]:
    """Every transaction of a block, in order, with its validation code and proposed writes."""
    found: list[TxSummary] = []
    flags = block.metadata.validation_flags
    for tx_num, envelope_bytes in enumerate(block.data):
        code = code_name(flags, tx_num)
        try:
            payload = decode(decode(envelope_bytes, Envelope).payload, Payload)
            if payload.type != PayloadType.ENDORSER_TRANSACTION:
                found.append(TxSummary(tx_num, "", code, block.header.timestamp_ms, []))
                continue
            transaction = decode(payload.data, EndorsedTransaction)
            proposal = decode(transaction.proposal, Proposal)
            response = decode(transaction.response_payload, ResponsePayload)
        except (msgspec.DecodeError, msgspec.ValidationError):
            found.append(TxSummary(tx_num, "", code, block.header.timestamp_ms, []))
            continue
        writes = [(w.key, w.value, w.is_delete) for w in response.rwset.writes]
        found.append(TxSummary(tx_num, proposal.tx_id, code, proposal.timestamp_ms, writes))
    return found

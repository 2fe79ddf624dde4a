"""Inclusion proof of one reading up to a block header, checkable offline.

The chain of evidence, each link checked by `check_reading_proof` with nothing but the proof
and the channel's genesis block (the trust anchors: the organizations' CA keys):
  1. the reading is one of the batch's readings;
  2. the batch is signed by the meter's key, and the meter's certificate (role meter, its
     meterId) is signed by its organization's CA;
  3. the batch is the `batchJson` argument of a readingsSubmit transaction envelope;
  4. the envelope is a leaf under the block header's data hash (Merkle path);
  5. the header is signed by an orderer whose certificate the orderer org's CA signed.
The validation code comes from the peer that served the block (the flags are not signed by
the orderer): the proof reports it, the peers' commit hashes vouch for it.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from chaincode.metering.batches import signature_ok
from chaincode.metering.errors import METER_ROLE
from ledger.core.encoding import decode, encode, merkle_path, verify_merkle_path
from ledger.core.identity import CERT_DOMAIN, Certificate, verify_signature
from ledger.core.messages import Block, BlockHeader, EndorsedTransaction, Envelope, Payload, Proposal, block_hash

PROOF_VERSION = 1
SUBMIT_FUNCTION = "readingsSubmit"


def envelope_tx_id(envelope_bytes: bytes) -> str:
    """The transaction id inside an envelope ("" for one that is not an endorser transaction)."""
    try:
        payload = decode(decode(envelope_bytes, Envelope).payload, Payload)
        return decode(decode(payload.data, EndorsedTransaction).proposal, Proposal).tx_id
    except (msgspec.DecodeError, msgspec.ValidationError):
        return ""


def build_reading_proof(meter: dict[str, Any], reading: dict[str, Any], batch: dict[str, Any], meter_cert: bytes, block: Block, tx_id: str, code: str) -> dict[str, Any]:
    """The proof document (JSON-ready) for `reading`, recorded by transaction `tx_id` in `block`."""
    leaves = list(block.data)
    tx_num = next(i for i, envelope in enumerate(leaves) if envelope_tx_id(envelope) == tx_id)
    header = block.header
    return {
        "version": PROOF_VERSION,
        "meterId": meter["meterId"],
        "reading": {k: reading[k] for k in ("start", "wh", "varh", "peak_w")},
        "batch": batch,
        "meter_certificate": meter_cert.hex(),
        "tx_id": tx_id,
        "validation_code": code,
        "envelope": leaves[tx_num].hex(),
        "tx_num": tx_num,
        "path": [{"sibling": sibling.hex(), "left": left} for sibling, left in merkle_path(leaves, tx_num)],
        "header": {"number": header.number, "previous_hash": header.previous_hash.hex(), "data_hash": header.data_hash.hex(), "timestamp_ms": header.timestamp_ms},
        "block_hash": block_hash(header).hex(),
        "orderer_certificate": block.orderer_signature.signer.hex(),
        "orderer_signature": block.orderer_signature.signature.hex(),
    }


def _certificate(hex_text: str, ca_keys: dict[str, bytes], what: str, problems: list[str]) -> Certificate | None:
    try:
        cert = decode(bytes.fromhex(hex_text), Certificate)
    except (ValueError, msgspec.DecodeError, msgspec.ValidationError):
        problems.append(f"the {what} certificate cannot be decoded")
        return None
    ca_key = ca_keys.get(cert.body.org)
    if ca_key is None or not verify_signature(ca_key, CERT_DOMAIN + encode(cert.body), cert.signature):
        problems.append(f"the {what} certificate is not signed by the CA of {cert.body.org!r} in the genesis block")
        return None
    return cert


def check_reading_proof(proof: dict[str, Any], ca_keys: dict[str, bytes], orderer_org: str) -> list[str]:
    """Every link of the proof that does not hold (an empty list: the reading is proven)."""
    problems: list[str] = []
    try:
        batch, reading = proof["batch"], proof["reading"]
        if reading not in batch["readings"]:
            problems.append("the reading is not one of the batch's readings")
        meter_cert = _certificate(proof["meter_certificate"], ca_keys, "meter", problems)
        if meter_cert is not None:
            body = meter_cert.body
            if body.role != METER_ROLE or dict(body.attributes).get("meterId") != proof["meterId"] or batch["meterId"] != proof["meterId"]:
                problems.append("the certificate is not that of the batch's meter")
            if not signature_ok(batch, body.public_key):
                problems.append("the batch is not signed by the meter's key")
        envelope = bytes.fromhex(proof["envelope"])
        try:
            payload = decode(decode(envelope, Envelope).payload, Payload)
            proposal = decode(decode(payload.data, EndorsedTransaction).proposal, Proposal)
            invocation = proposal.invocation
            recorded = json.loads(invocation.args[1]) if invocation.function == SUBMIT_FUNCTION and len(invocation.args) == 2 else None
            if recorded != batch or invocation.args[0] != proof["meterId"] or proposal.tx_id != proof["tx_id"]:
                problems.append("the envelope is not the readingsSubmit transaction of this batch")
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError):
            problems.append("the envelope cannot be decoded")
        header = BlockHeader(proof["header"]["number"], bytes.fromhex(proof["header"]["previous_hash"]), bytes.fromhex(proof["header"]["data_hash"]), proof["header"]["timestamp_ms"])
        path = [(bytes.fromhex(step["sibling"]), bool(step["left"])) for step in proof["path"]]
        if not verify_merkle_path(envelope, path, header.data_hash):
            problems.append("the Merkle path does not lead from the envelope to the header's data hash")
        digest = block_hash(header)
        if digest.hex() != proof["block_hash"]:
            problems.append("the block hash is not the hash of the header")
        orderer = _certificate(proof["orderer_certificate"], ca_keys, "orderer", problems)
        if orderer is not None:
            if orderer.body.org != orderer_org or orderer.body.role != "orderer":
                problems.append(f"the block is not signed by an orderer of {orderer_org}")
            elif not verify_signature(orderer.body.public_key, digest, bytes.fromhex(proof["orderer_signature"])):
                problems.append("the orderer's signature over the header does not verify")
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        problems.append(f"the proof is malformed: {exc!r}")
    return problems

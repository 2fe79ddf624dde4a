"""The wire messages of execute → order → validate → commit.

Byte-valued fields that hold another record (`Proposal.signoffs[i].signer`,
`SignedProposal.proposal`, ...) carry that record's canonical encoding, so a signature is
always over exactly the bytes that travel.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum

from ledger.core.encoding import Record, encode, sha256

SIGNOFF_DOMAIN = b"gridledger/signoff/v1\x00"


class PayloadType(IntEnum):
    CONFIG = 0
    ENDORSER_TRANSACTION = 1


# --- proposals -------------------------------------------------------------------------


class Signoff(Record, frozen=True):
    """A signature over a transaction id by someone other than the creator.

    kind "party": a user the transaction acts for (the requester, a transfer's counterparty).
    kind "approval": an administrator's approval of the request (supervision).
    A "party" signoff whose signer is the proposal's creator may leave `signature` empty:
    the creator's signature over the whole proposal (tx id included) already covers it.
    """

    kind: str
    signer: bytes  # encoded Certificate
    signature: bytes  # over signoff_message(kind, tx_id)


def signoff_message(kind: str, tx_id: str) -> bytes:
    return SIGNOFF_DOMAIN + kind.encode() + b"\x00" + tx_id.encode()


class Invocation(Record, frozen=True):
    """What is asked of a chaincode; the transaction id is the hash of it (with the nonce)."""

    channel: str
    chaincode: str
    function: str
    args: tuple[str, ...]
    nonce: bytes


def compute_tx_id(invocation: Invocation) -> str:
    """Transaction id: hex sha256 of the invocation. Any replay of the same signed request
    yields the same id and is refused as DUPLICATE_TXID."""
    return sha256(encode(invocation)).hex()


class Proposal(Record, frozen=True):
    invocation: Invocation
    tx_id: str
    timestamp_ms: int
    creator: bytes  # encoded Certificate of the client that submits
    signoffs: tuple[Signoff, ...]


class SignedProposal(Record, frozen=True):
    proposal: bytes  # encoded Proposal
    signature: bytes  # creator's signature over `proposal`


# --- endorsement -----------------------------------------------------------------------

Version = tuple[int, int]  # (block number, transaction number) of the write that set a key


class KVRead(Record, frozen=True):
    key: str
    version: Version | None  # None: the key did not exist


class RangeRead(Record, frozen=True):
    """A range scan [start, end) and the keys (with versions) it saw, for phantom checks."""

    start: str
    end: str
    reads: tuple[KVRead, ...]


class KVWrite(Record, frozen=True):
    key: str
    value: bytes
    is_delete: bool


class ReadWriteSet(Record, frozen=True):
    reads: tuple[KVRead, ...]
    range_reads: tuple[RangeRead, ...]
    writes: tuple[KVWrite, ...]


class ChaincodeEvent(Record, frozen=True):
    name: str
    payload: bytes


class ResponsePayload(Record, frozen=True):
    """What an endorser signs: the simulation's outcome for one proposal."""

    tx_id: str
    proposal_hash: bytes
    status: int  # 200 ok, 400 refused by the chaincode, 500 chaincode broke
    code: str  # "" when ok, else a stable refusal code (the chaincode's, or the endorser's)
    message: str
    result: bytes
    rwset: ReadWriteSet
    events: tuple[ChaincodeEvent, ...]


class Endorsement(Record, frozen=True):
    endorser: bytes  # encoded Certificate
    signature: bytes  # over the encoded ResponsePayload


class ProposalResponse(Record, frozen=True):
    payload: bytes  # encoded ResponsePayload
    endorsement: Endorsement


STATUS_OK = 200
STATUS_REFUSED = 400
STATUS_ERROR = 500


# --- transactions and blocks -----------------------------------------------------------


class EndorsedTransaction(Record, frozen=True):
    proposal: bytes  # encoded Proposal
    response_payload: bytes  # encoded ResponsePayload, identical across endorsers
    endorsements: tuple[Endorsement, ...]


class Payload(Record, frozen=True):
    type: int  # PayloadType
    channel: str
    creator: bytes  # encoded Certificate
    data: bytes  # encoded EndorsedTransaction or ChannelConfig


class Envelope(Record, frozen=True):
    payload: bytes  # encoded Payload
    signature: bytes  # creator's signature over `payload`


class BlockHeader(Record, frozen=True):
    number: int
    previous_hash: bytes
    data_hash: bytes  # Merkle root over the encoded envelopes
    timestamp_ms: int


class OrdererSignature(Record, frozen=True):
    signer: bytes  # encoded Certificate
    signature: bytes  # over block_hash(header)


class BlockMetadata(Record, frozen=True):
    """Filled in by the committing peer: not covered by the orderer's signature."""

    validation_flags: bytes  # one ValidationCode byte per transaction
    commit_hash: bytes  # chains the valid writes: sha256(previous commit_hash || writes)


class Block(Record, frozen=True):
    header: BlockHeader
    data: tuple[bytes, ...]  # encoded Envelopes
    orderer_signature: OrdererSignature
    metadata: BlockMetadata


def block_hash(header: BlockHeader) -> bytes:
    return sha256(encode(header))


def commit_hash(previous: bytes, block_number: int, valid_writes: list[tuple[int, KVWrite]]) -> bytes:
    """Chain hash of the writes a block applied: equal on two peers iff they applied the same."""
    return sha256(previous + encode((block_number, valid_writes)))


# --- what the ordering service and the peers answer ------------------------------------


class BroadcastResult(Record, frozen=True):
    """The ordering service's answer to a broadcast: accepted, or the refusal (OrdererCode)."""

    accepted: bool
    code: str = ""
    message: str = ""


class CommitEvent(Record, frozen=True):
    """What a peer tells listeners after committing a block (step 4): every transaction's
    id ("" where the transaction could not be decoded) and validation code."""

    number: int
    tx_ids: tuple[str, ...]
    codes: bytes  # one ValidationCode byte per transaction, as in the block's flags
    commit_hash: bytes


CommitListener = Callable[[CommitEvent], None]


class HistoryEntry(Record, frozen=True):
    """One committed write of a key (the history index; `get_history_for_key`)."""

    block: int
    tx_num: int
    tx_id: str
    timestamp_ms: int
    value: bytes
    is_delete: bool

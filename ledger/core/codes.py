"""Every stable code the ledger answers with, and the one table of sentences for them.

Validation codes are data: a committing peer stores one per transaction in the block's
flags (step 3), so their numbers never change. The refusal codes of the other stages are
string enums: the endorser (step 1), the ordering service (step 2), the gateway (the client
side) and the node tools. `describe(code)` gives the sentence a person can act on; the CLI
and the console both take it from here.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class ValidationCode(IntEnum):
    """Why a committing peer marked a transaction; stored per transaction in the block."""

    VALID = 0
    BAD_PAYLOAD = 1
    BAD_CREATOR_SIGNATURE = 2
    ENDORSEMENT_POLICY_FAILURE = 3
    MVCC_READ_CONFLICT = 4
    PHANTOM_READ_CONFLICT = 5
    DUPLICATE_TXID = 6
    MISSING_ADMIN_APPROVAL = 7
    CHAINCODE_ERROR = 8
    UNKNOWN_IDENTITY = 9
    BAD_TXID = 10
    UNKNOWN_CHAINCODE = 11
    BAD_CHANNEL = 12
    BAD_KEY = 13
    NOT_VALIDATED = 255


# Codes the validator gives only after the creator's envelope signature verified and the
# transaction id proved to be the hash of what the creator signed: the id is the creator's.
AUTHENTIC_CODES = frozenset(
    {
        ValidationCode.VALID,
        ValidationCode.ENDORSEMENT_POLICY_FAILURE,
        ValidationCode.MVCC_READ_CONFLICT,
        ValidationCode.PHANTOM_READ_CONFLICT,
        ValidationCode.DUPLICATE_TXID,
        ValidationCode.MISSING_ADMIN_APPROVAL,
        ValidationCode.CHAINCODE_ERROR,
        ValidationCode.UNKNOWN_CHAINCODE,
        ValidationCode.BAD_KEY,
    }
)


def is_authentic(code: int) -> bool:
    """True when a transaction with this code carries its creator's own transaction id."""
    return code in AUTHENTIC_CODES


class EndorserCode(StrEnum):
    """Why an endorser refused a proposal without signing it (step 1)."""

    BAD_PAYLOAD = "BAD_PAYLOAD"
    BAD_CREATOR_SIGNATURE = "BAD_CREATOR_SIGNATURE"
    BAD_CHANNEL = "BAD_CHANNEL"
    BAD_TXID = "BAD_TXID"
    BAD_SIGNOFF = "BAD_SIGNOFF"
    UNKNOWN_CHAINCODE = "UNKNOWN_CHAINCODE"
    UNKNOWN_IDENTITY = "UNKNOWN_IDENTITY"
    DUPLICATE_TXID = "DUPLICATE_TXID"
    PEER_UNAVAILABLE = "PEER_UNAVAILABLE"
    PEER_ERROR = "PEER_ERROR"


class SimulationCode(StrEnum):
    """What the simulator refuses of a chaincode (returned in a signed response, status 400/500)."""

    BAD_KEY = "BAD_KEY"
    BAD_VALUE = "BAD_VALUE"
    RANGE_TOO_LARGE = "RANGE_TOO_LARGE"
    TOO_MANY_EVENTS = "TOO_MANY_EVENTS"
    MISSING_ADMIN_APPROVAL = "MISSING_ADMIN_APPROVAL"
    CHAINCODE_FAULT = "CHAINCODE_FAULT"


class OrdererCode(StrEnum):
    """Why the ordering service did not accept an envelope (step 2)."""

    TOO_LARGE = "TOO_LARGE"
    BAD_PAYLOAD = "BAD_PAYLOAD"
    BAD_CHANNEL = "BAD_CHANNEL"
    BAD_CREATOR_SIGNATURE = "BAD_CREATOR_SIGNATURE"
    UNKNOWN_IDENTITY = "UNKNOWN_IDENTITY"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"


class GatewayCode(StrEnum):
    """What the client side reports beyond the stages' own codes."""

    ENDORSEMENT_MISMATCH = "ENDORSEMENT_MISMATCH"
    ENDORSEMENT_TIMEOUT = "ENDORSEMENT_TIMEOUT"
    NO_ENDORSERS = "NO_ENDORSERS"
    UNKNOWN_CHAINCODE = "UNKNOWN_CHAINCODE"
    COMMIT_TIMEOUT = "COMMIT_TIMEOUT"
    ORDERER_UNAVAILABLE = "ORDERER_UNAVAILABLE"
    BAD_BATCH_REPLY = "BAD_BATCH_REPLY"


class MembershipCode(StrEnum):
    """Why a certificate is not accepted."""

    UNKNOWN_ORG = "UNKNOWN_ORG"
    BAD_CERTIFICATE = "BAD_CERTIFICATE"
    EXPIRED = "EXPIRED"
    NOT_YET_VALID = "NOT_YET_VALID"
    REVOKED = "REVOKED"
    NOT_AN_ORDERER = "NOT_AN_ORDERER"


class NodeCode(StrEnum):
    """What the node tools (init, up, the CLI) report."""

    NO_NETWORK = "NO_NETWORK"
    GENESIS_MISSING = "GENESIS_MISSING"
    NO_NODES = "NO_NODES"
    ROUTE_SECRET_MISSING = "ROUTE_SECRET_MISSING"
    NETWORK_BUSY = "NETWORK_BUSY"
    PORT_IN_USE = "PORT_IN_USE"
    NOT_NETWORKED = "NOT_NETWORKED"
    NOT_EMBEDDED = "NOT_EMBEDDED"
    INIT_FAILED = "INIT_FAILED"
    CONFIG_INVALID = "CONFIG_INVALID"
    BAD_ARGUMENT = "BAD_ARGUMENT"
    UNKNOWN_USER = "UNKNOWN_USER"
    NODE_FAILED = "NODE_FAILED"
    STORAGE_CORRUPT = "STORAGE_CORRUPT"
    ORDERER_DAMAGED = "ORDERER_DAMAGED"
    REPAIR_FAILED = "REPAIR_FAILED"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    VERIFY_FAILED = "VERIFY_FAILED"
    FILE_EXISTS = "FILE_EXISTS"
    NO_WORKLOAD = "NO_WORKLOAD"
    BENCH_SETUP_FAILED = "BENCH_SETUP_FAILED"


class VerifyCode(StrEnum):
    """What `gridledger verify` found wrong (each fault names its node and block or key)."""

    BLOCKS_MISSING = "BLOCKS_MISSING"
    BLOCK_CORRUPT = "BLOCK_CORRUPT"
    BLOCK_TORN = "BLOCK_TORN"
    BLOCK_SEAL = "BLOCK_SEAL"
    GENESIS_MISMATCH = "GENESIS_MISMATCH"
    GENESIS_DAMAGED = "GENESIS_DAMAGED"
    INDEX_MISMATCH = "INDEX_MISMATCH"
    FLAG_MISMATCH = "FLAG_MISMATCH"
    COMMIT_HASH_MISMATCH = "COMMIT_HASH_MISMATCH"
    SAVEPOINT_MISMATCH = "SAVEPOINT_MISMATCH"
    STATE_MISMATCH = "STATE_MISMATCH"
    HISTORY_MISMATCH = "HISTORY_MISMATCH"
    TXINDEX_MISMATCH = "TXINDEX_MISMATCH"
    DATABASE_UNREADABLE = "DATABASE_UNREADABLE"
    CHAIN_DIVERGES = "CHAIN_DIVERGES"
    PEERS_DISAGREE = "PEERS_DISAGREE"
    NODE_UNREACHABLE = "NODE_UNREACHABLE"


_SENTENCES: dict[str, str] = {
    # validation (step 3)
    "VALID": "the transaction is committed",
    "BAD_PAYLOAD": "the transaction could not be decoded",
    "BAD_CREATOR_SIGNATURE": "the transaction's creator signature does not verify",
    "ENDORSEMENT_POLICY_FAILURE": "the endorsements do not satisfy the chaincode's endorsement policy",
    "MVCC_READ_CONFLICT": "another transaction changed what this one read; submit it again",
    "PHANTOM_READ_CONFLICT": "a range this transaction scanned changed before it committed; submit it again",
    "DUPLICATE_TXID": "this transaction id is already on the ledger (a replay)",
    "MISSING_ADMIN_APPROVAL": "the transaction writes without a valid administrator approval",
    "CHAINCODE_ERROR": "the chaincode refused or failed this transaction",
    "UNKNOWN_IDENTITY": "the creator's certificate is unknown, expired or revoked",
    "BAD_TXID": "the transaction id does not match its contents",
    "UNKNOWN_CHAINCODE": "the chaincode is not defined on this channel",
    "BAD_CHANNEL": "the transaction is for another channel",
    "BAD_KEY": "the transaction writes a state key that is empty, too long or holds a NUL",
    "NOT_VALIDATED": "the transaction has not been validated",
    # endorsement (step 1) and simulation
    "BAD_SIGNOFF": "a signoff of the proposal does not verify",
    "PEER_UNAVAILABLE": "the peer is not available; another peer may answer",
    "PEER_ERROR": "the peer failed to answer this call",
    "BAD_VALUE": "the chaincode wrote a value that is not bytes or is too large",
    "RANGE_TOO_LARGE": "a range scan returned more keys than a transaction may read",
    "TOO_MANY_EVENTS": "the chaincode set more events than a transaction may carry",
    "CHAINCODE_FAULT": "the chaincode failed (a fault, not a refusal); the peer's log has the trace",
    # ordering (step 2)
    "TOO_LARGE": "the envelope is larger than the channel allows",
    "SERVICE_UNAVAILABLE": "the ordering service cannot take transactions now; retry later",
    # gateway
    "ENDORSEMENT_MISMATCH": "the endorsing peers computed different results; retry",
    "ENDORSEMENT_TIMEOUT": "an endorsing peer did not answer in time",
    "NO_ENDORSERS": "no live peers can satisfy the endorsement policy",
    "COMMIT_TIMEOUT": "the transaction was ordered but its commit was not seen in time; it may still commit",
    "ORDERER_UNAVAILABLE": "no ordering node answered; retry later",
    # membership
    "UNKNOWN_ORG": "the certificate's organization is not a member of the channel",
    "BAD_CERTIFICATE": "the certificate cannot be decoded or is not signed by its organization's CA",
    "EXPIRED": "the certificate has expired",
    "NOT_YET_VALID": "the certificate is not valid yet",
    "REVOKED": "the certificate is revoked",
    "NOT_AN_ORDERER": "the signer is not an orderer of the channel",
    # node tools
    "NO_NETWORK": "the directory holds no network; run `gridledger init` first",
    "ROUTE_SECRET_MISSING": "this member runs a NATS server but lacks the cluster's route secret; copy it from the member the message names",
    "NO_NODES": "the directory holds a network but none of its nodes; run the command from a directory that has them",
    "GENESIS_MISSING": "the directory holds a network but its genesis.block is missing; copy it back (the message says from where)",
    "NETWORK_BUSY": "another process runs this network; stop it or use its console and API",
    "PORT_IN_USE": "a port a node listens on is held by another process; the message names it",
    "NOT_NETWORKED": "the directory holds an embedded network; leave out --networked, or init a new directory with --networked",
    "NOT_EMBEDDED": "the directory holds a networked consortium; start it with `gridledger up --networked`",
    "INIT_FAILED": "the network could not be created",
    "CONFIG_INVALID": "the network file is not valid",
    "BAD_ARGUMENT": "an argument of the command is not valid",
    "UNKNOWN_USER": "there is no such user or organization",
    "NODE_FAILED": "a node stopped because its work loop failed",
    "STORAGE_CORRUPT": "a node's stored data is damaged; a peer is repaired with `gridledger repair --data DIR --peer NAME`",
    "REPAIR_FAILED": "the peer could not be repaired; the message says why",
    "ORDERER_DAMAGED": "the orderer's block files are damaged and no peer holds a verified copy to repair them",
    "INTERNAL_ERROR": "an unexpected error; the log has the details",
    "VERIFY_FAILED": "verify found a fault; the first one is named",
    "FILE_EXISTS": "the file a command would write exists already (a wallet, a genesis block); move it away first",
    "NO_WORKLOAD": "the chaincode names no benchmark workload in the network file",
    "BENCH_SETUP_FAILED": "a benchmark setup phase had failed transactions; the message counts them by code",
    # verify
    "BLOCKS_MISSING": "a node has no block files",
    "BLOCK_CORRUPT": "a stored block record is damaged or cannot be decoded",
    "BLOCK_TORN": "the block files end in an incomplete record (cut on the node's next start)",
    "BLOCK_SEAL": "a block's hash link, Merkle root or orderer signature does not hold",
    "GENESIS_MISMATCH": "a node's block 0 is not the network's genesis block",
    "GENESIS_DAMAGED": "the genesis.block file is damaged or differs from the orderer's block 0",
    "INDEX_MISMATCH": "the block index does not point at the block records",
    "FLAG_MISMATCH": "a stored validation flag differs from what replaying validation gives",
    "COMMIT_HASH_MISMATCH": "a block's commit hash does not match its valid writes",
    "SAVEPOINT_MISMATCH": "the state database's savepoint does not match the block files",
    "STATE_MISMATCH": "the state database differs from the state the blocks wrote",
    "HISTORY_MISMATCH": "the key history differs from the writes the blocks hold",
    "TXINDEX_MISMATCH": "the transaction index differs from the transactions the blocks hold",
    "DATABASE_UNREADABLE": "a node's state database cannot be opened or read",
    "CHAIN_DIVERGES": "a peer's chain differs from the orderer's",
    "PEERS_DISAGREE": "the peers disagree on height or commit hash",
    "NODE_UNREACHABLE": "a peer did not answer and its files are not on this machine, so it was not checked",
}


def describe(code: str | int) -> str:
    """The sentence for a code (a validation code number, or any code name)."""
    if isinstance(code, int):
        try:
            code = ValidationCode(code).name
        except ValueError:
            return f"unknown validation code {code}"
    return _SENTENCES.get(str(code), str(code))


def validation_code_name(value: int) -> str:
    """The name of a stored flag, or UNKNOWN(n) for a byte no validator writes."""
    try:
        return ValidationCode(value).name
    except ValueError:
        return f"UNKNOWN({value})"

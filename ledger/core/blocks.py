"""Blocks as the orderer makes them and as every reader checks them: one place for the
sealing rule (hash link, Merkle root, orderer signature) and its inverse.

The timestamp is an input: the ordering service chooses it when it cuts the block (from
the stream that ordered the batch in the networked mode), so that several orderer nodes
seal identical headers, and validators judge certificates at that time on every replay.
"""

from __future__ import annotations

from ledger.core.channel import Channel
from ledger.core.channel_config import ChannelConfig
from ledger.core.codes import ValidationCode
from ledger.core.encoding import encode, merkle_root
from ledger.core.errors import MembershipError
from ledger.core.identity import SigningIdentity
from ledger.core.messages import (
    Block,
    BlockHeader,
    BlockMetadata,
    Envelope,
    OrdererSignature,
    Payload,
    PayloadType,
    block_hash,
    commit_hash,
)

ZERO_HASH = bytes(32)
EMPTY_METADATA = BlockMetadata(b"", b"")  # what the orderer seals; each peer fills in its own


def make_header(number: int, previous_hash: bytes, envelopes: list[bytes], timestamp_ms: int) -> BlockHeader:
    """The header every orderer node computes alike for the same batch and timestamp."""
    return BlockHeader(number, previous_hash, merkle_root(envelopes), timestamp_ms)


def seal_block(
    number: int,
    previous_hash: bytes,
    envelopes: list[bytes],
    orderer: SigningIdentity,
    timestamp_ms: int,
    metadata: BlockMetadata = EMPTY_METADATA,
) -> Block:
    """Hash-link, Merkle-root and sign a batch of envelopes cut at `timestamp_ms`."""
    header = make_header(number, previous_hash, envelopes, timestamp_ms)
    signature = OrdererSignature(orderer.cert_bytes, orderer.sign(block_hash(header)))
    return Block(header, tuple(envelopes), signature, metadata)


def seal_problem(block: Block, previous_hash: bytes | None, channel: Channel) -> str:
    """Why `block` is not a sealed successor of `previous_hash` ("" when it is).
    `previous_hash` None skips the link (the genesis block has no predecessor)."""
    header = block.header
    if previous_hash is not None and header.previous_hash != previous_hash:
        return "previous-hash link does not match the block before it"
    if header.data_hash != merkle_root(list(block.data)):
        return "data hash is not the Merkle root of its transactions (a transaction was altered)"
    try:
        orderer = channel.validate_orderer(block.orderer_signature.signer)
    except MembershipError as exc:
        return f"orderer certificate refused: {exc.message}"
    if not orderer.verify(block_hash(header), block.orderer_signature.signature):
        return "orderer signature does not verify"
    return ""


def make_genesis_block(config: ChannelConfig, timestamp_ms: int) -> Block:
    """Block 0: one CONFIG transaction holding the channel configuration.

    It is built from the organizations' public material only, so nobody signs it: every
    node is given the same genesis file out of band and trusts it by its hash (as Fabric
    nodes trust the genesis block they are bootstrapped with).
    """
    payload = encode(Payload(PayloadType.CONFIG, config.channel, b"", encode(config)))
    envelope = encode(Envelope(payload, b""))
    metadata = BlockMetadata(bytes([ValidationCode.VALID]), commit_hash(ZERO_HASH, 0, []))
    header = make_header(0, ZERO_HASH, [envelope], timestamp_ms)
    return Block(header, (envelope,), OrdererSignature(b"", b""), metadata)


def genesis_problem(block: Block, genesis: Block) -> str:
    """Why a stored block 0 is not the channel's genesis block ("" when it is)."""
    if block.header.number != 0:
        return f"header says number {block.header.number}"
    if block_hash(block.header) != block_hash(genesis.header):
        return "is not the channel's genesis block (its header hash differs from genesis.block)"
    if block.header.data_hash != merkle_root(list(block.data)):
        return "data hash is not the Merkle root of its transactions (the configuration was altered)"
    if block.metadata != genesis.metadata:
        return "metadata differs from the genesis block's"
    return ""

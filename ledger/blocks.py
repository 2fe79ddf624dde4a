"""Blocks as the orderer makes them and as every reader checks them: one place for the
sealing rule (hash link, Merkle root, orderer signature) and its inverse."""

from __future__ import annotations

from ledger.channel import Channel
from ledger.encoding import merkle_root
from ledger.identity import MembershipError, SigningIdentity, now_ms
from ledger.messages import Block, BlockHeader, BlockMetadata, OrdererSignature, block_hash


def seal_block(number: int, previous_hash: bytes, envelopes: list[bytes], orderer: SigningIdentity, metadata: BlockMetadata) -> Block:
    """Hash-link, Merkle-root and sign a batch of envelopes."""
    header = BlockHeader(number, previous_hash, merkle_root(envelopes), now_ms())
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

"""A damaged orderer is repaired from a peer's verified copy, or refuses to start: it never
re-cuts a block number it may have delivered (the defect: a flipped byte in its last block was
cut off as a torn tail, the orderer re-cut that number, every peer rejected it)."""

from __future__ import annotations

import random
import shutil
import zlib
from pathlib import Path

import pytest
from netkit import submit, wait_in_sync
from test_tamper_and_crash import populate, record_location

from ledger.core.channel import Channel
from ledger.core.channel_config import genesis_config
from ledger.node.layout import NetworkLayout
from ledger.node.material import load_genesis
from ledger.node.network import Network
from ledger.order.repair import OrdererDamaged, open_orderer_store
from ledger.storage.blockstore import DAMAGED_PREFIX, INDEX_NAME, RECORD_HEADER, BlockStore
from ledger.tools.verify import verify_network


def orderer_name(data: Path) -> str:
    return genesis_config(load_genesis(NetworkLayout(data))).orderers[0].node_id


def data_files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.glob("blocks_*.bin"))}


def flip(path: Path, position: int, mask: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[position] ^= mask
    path.write_bytes(bytes(raw))


def peer_copies(data: Path) -> list:
    layout = NetworkLayout(data)
    config = genesis_config(load_genesis(layout))

    def source(name: str):
        def blocks_from(number: int):
            with BlockStore(layout.blocks_dir(name), read_only=True) as store:
                for _, block_bytes in store.iter_blocks(number):
                    yield block_bytes

        return blocks_from

    return [source(node.node_id) for node in config.peers]


def test_random_flips_in_the_orderers_last_block_are_all_repaired_byte_for_byte(network_dir: Path, tmp_path: Path) -> None:
    height = populate(network_dir)
    layout = NetworkLayout(network_dir)
    orderer_blocks = layout.blocks_dir(orderer_name(network_dir))
    original = data_files(orderer_blocks)
    genesis = load_genesis(layout)
    channel = Channel(genesis_config(genesis))
    path, offset, length = record_location(orderer_blocks, height - 1)
    rng = random.Random(11)
    tried, repaired = 40, 0
    for attempt in range(tried):
        work = tmp_path / f"orderer{attempt}"
        shutil.copytree(orderer_blocks, work)
        flip(work / path.name, offset + rng.randrange(RECORD_HEADER.size + length), rng.randrange(1, 256))
        with open_orderer_store(work, genesis, channel, peer_copies(network_dir)) as store:
            assert store.height == height
        assert data_files(work) == original  # the very bytes the orderer sealed, not a re-cut block
        assert any(p.name.startswith(DAMAGED_PREFIX) for p in work.iterdir())  # the damage is kept for a person
        repaired += 1
        shutil.rmtree(work)
    assert repaired == tried


def test_network_with_a_damaged_orderer_block_repairs_it_and_keeps_committing(network_dir: Path) -> None:
    height = populate(network_dir)
    orderer_blocks = NetworkLayout(network_dir).blocks_dir(orderer_name(network_dir))
    original = data_files(orderer_blocks)
    path, offset, length = record_location(orderer_blocks, height - 1)
    flip(path, offset + RECORD_HEADER.size + length // 2, 0x04)
    assert not verify_network(network_dir).ok  # verify names the damage before the repair

    with Network.open(network_dir) as net:
        assert net.orderer.height == height
        more = submit(net, net.enroll("Org1", "bob"), "userRegister", "Bob", "B")
        assert more.block == height and more.code.name == "VALID"
        wait_in_sync(net)
    repaired = data_files(orderer_blocks)
    assert repaired[path.name].startswith(original[path.name])
    assert verify_network(network_dir).ok


def test_damaged_orderer_without_a_verified_peer_copy_refuses_to_start_and_changes_nothing(network_dir: Path) -> None:
    height = populate(network_dir)
    layout = NetworkLayout(network_dir)
    config = genesis_config(load_genesis(layout))
    orderer_blocks = layout.blocks_dir(orderer_name(network_dir))
    path, offset, length = record_location(orderer_blocks, height - 1)
    flip(path, offset + RECORD_HEADER.size + 3, 0x20)
    tampered = 0
    for node in config.peers:  # every peer's copy of that block altered, its CRC made to match
        peer_path, peer_offset, peer_length = record_location(layout.blocks_dir(node.node_id), height - 1)
        raw = bytearray(peer_path.read_bytes())
        start = peer_offset + RECORD_HEADER.size
        raw[start + peer_length - 150] ^= 0x01
        raw[peer_offset : start] = RECORD_HEADER.pack(peer_length, zlib.crc32(bytes(raw[start : start + peer_length])), height - 1)
        peer_path.write_bytes(bytes(raw))
        tampered += 1
    assert tampered == len(config.peers)
    before = data_files(orderer_blocks)
    with pytest.raises(OrdererDamaged) as refused:
        Network.open(network_dir)
    assert refused.value.code == "ORDERER_DAMAGED" and refused.value.number == height - 1
    assert data_files(orderer_blocks) == before
    assert not any(p.name.startswith(DAMAGED_PREFIX) for p in orderer_blocks.iterdir())
    assert (orderer_blocks / INDEX_NAME).exists()

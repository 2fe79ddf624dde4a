"""A peer with damaged block files refuses to start with STORAGE_CORRUPT naming
`gridledger repair`; the repair restores its blocks from verified copies (the orderer's, the
other peers'), rebuilds its state from the blocks, and `verify` passes again."""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import zlib
from pathlib import Path

import pytest
from netkit import balance, cli, submit, wait_in_sync
from postgres_server import PostgresServer, postgres_server  # noqa: F401  (fixture)
from test_orderer_repair import data_files, flip, orderer_name
from test_tamper_and_crash import populate, record_location

from ledger.core.encoding import decode, encode
from ledger.core.messages import Block, BlockMetadata
from ledger.node.layout import NetworkLayout
from ledger.node.network import Network, PeerDamaged
from ledger.storage.blockstore import DAMAGED_PREFIX, INDEX_NAME, RECORD_HEADER
from ledger.storage.statedb import StateDB
from ledger.tools.repair import repair_network_peer
from ledger.tools.verify import verify_network

VICTIM = "peer1.Org2"
FLIPS_TRIED = 16


def _blocks(data: Path, peer: str = VICTIM) -> Path:
    return NetworkLayout(data).blocks_dir(peer)


def _state_rows(data: Path, peer: str = VICTIM) -> dict[str, list[tuple[object, ...]]]:
    state = StateDB(NetworkLayout(data).state_url("sqlite", peer))
    try:
        return {"state": list(state.iter_state()), "history": list(state.iter_rows("history")), "txindex": list(state.iter_rows("txindex"))}
    finally:
        state.close()


def test_random_flips_in_a_peers_blocks_are_all_repaired_byte_for_byte(network_dir: Path, tmp_path: Path) -> None:
    height = populate(network_dir)
    original_blocks, original_rows = data_files(_blocks(network_dir)), _state_rows(network_dir)
    assert all(original_rows.values()), "the rows compared must not be empty"
    rng = random.Random(7)
    tried, repaired = FLIPS_TRIED, 0
    for attempt in range(tried):
        work = tmp_path / f"net{attempt}"
        shutil.copytree(network_dir, work)
        number = rng.randrange(height)  # block 0 (genesis) too
        path, offset, length = record_location(_blocks(work), number)
        flip(path, offset + rng.randrange(RECORD_HEADER.size + length), rng.randrange(1, 256))
        found = verify_network(work)
        assert not found.ok and found.repairs == [f"gridledger repair --data {work} --peer {VICTIM}"], found.as_dict()  # verify names the step
        result = repair_network_peer(work, VICTIM)
        assert result["damaged_from"] == number, (attempt, result)
        assert result["verify"]["ok"], result["verify"]["problems"]
        assert result["height"] == height and result["blocks_restored"] == height - number
        # re-validated, not copied: the peer's records are the very bytes it had committed
        assert data_files(_blocks(work)) == original_blocks
        assert _state_rows(work) == original_rows
        assert any(p.name.startswith(DAMAGED_PREFIX) for p in _blocks(work).iterdir())  # the damage is kept for a person
        repaired += 1
        shutil.rmtree(work)
    print(f"peer block flips: {tried} tried, {repaired} repaired")
    assert repaired == tried


def test_a_block_altered_with_its_crc_recomputed_and_a_forged_flag_are_repaired(network_dir: Path) -> None:
    """Records that pass their CRC but not the chain check: a changed transaction byte (hash
    link / Merkle root) in one block, a VALID flag turned invalid in a later one."""
    height = populate(network_dir)
    original = data_files(_blocks(network_dir))
    for number, forge in ((height - 1, "flag"), (1, "payload")):
        path, offset, length = record_location(_blocks(network_dir), number)
        raw = bytearray(path.read_bytes())
        start = offset + RECORD_HEADER.size
        if forge == "payload":
            raw[start + length - 150] ^= 0x01
            payload = bytes(raw[start : start + length])
        else:
            block = decode(bytes(raw[start : start + length]), Block)
            flags = bytes([11]) + block.metadata.validation_flags[1:]  # VALID -> MVCC_READ_CONFLICT
            payload = encode(Block(block.header, block.data, block.orderer_signature, BlockMetadata(flags, block.metadata.commit_hash)))
        raw[offset : start + length] = RECORD_HEADER.pack(len(payload), zlib.crc32(payload), number) + payload
        path.write_bytes(bytes(raw))
    assert not verify_network(network_dir).ok
    result = repair_network_peer(network_dir, VICTIM)
    assert result["damaged_from"] == 1 and result["blocks_cut"] == height - 1 and result["blocks_restored"] == height - 1
    assert result["verify"]["ok"], result["verify"]["problems"]
    assert data_files(_blocks(network_dir)) == original


def test_a_flipped_index_byte_and_an_edited_state_are_rebuilt(network_dir: Path) -> None:
    populate(network_dir)
    original_rows = _state_rows(network_dir)
    flip(_blocks(network_dir) / INDEX_NAME, 13, 0x40)
    with sqlite3.connect(NetworkLayout(network_dir).state_sqlite(VICTIM)) as conn:
        assert conn.execute("DELETE FROM history WHERE key = 'powerdata/user/A'").rowcount > 0
    assert not verify_network(network_dir).ok
    result = repair_network_peer(network_dir, VICTIM)
    assert result["damaged_from"] is None and result["blocks_restored"] == 0 and result["state_rebuilt"]
    assert result["verify"]["ok"], result["verify"]["problems"]
    assert _state_rows(network_dir) == original_rows


def test_a_damaged_peer_refuses_to_start_naming_the_repair_command_which_then_restores_it(network_dir: Path) -> None:
    height = populate(network_dir)
    damaged = height - 1  # the open checks the last record (an earlier one is found by verify or on reading it)
    path, offset, length = record_location(_blocks(network_dir), damaged)
    flip(path, offset + RECORD_HEADER.size + length // 2, 0x10)
    command = f"gridledger repair --data {network_dir} --peer {VICTIM}"
    refused = cli("status", "--data", str(network_dir))
    assert refused.returncode == 1, refused.stdout
    error = json.loads(refused.stdout)
    assert error["code"] == "STORAGE_CORRUPT" and VICTIM in error["message"] and command in error["message"], error
    assert "Traceback" not in refused.stderr
    with pytest.raises(PeerDamaged) as in_processes:  # each peer in its own process: the same refusal
        Network.open(network_dir, peer_processes=True)
    assert in_processes.value.code == "STORAGE_CORRUPT" and command in in_processes.value.message
    assert cli("repair", "--data", str(network_dir), "--peer", "peer9.Org9").returncode == 2  # BAD_ARGUMENT

    done = cli("repair", "--data", str(network_dir), "--peer", VICTIM)
    assert done.returncode == 0, (done.stdout, done.stderr[-2000:])
    report = json.loads(done.stdout)
    assert report["damaged_from"] == damaged and report["blocks_restored"] == 1 and report["verify"]["ok"]
    assert report["sources"][0].startswith("orderer")
    with Network.open(network_dir, peer_processes=True) as net:
        assert net.wait_for_height(height)
        more = submit(net, net.enroll("Org1", "bob"), "userRegister", "Bob", "B")
        assert more.code.name == "VALID"
        wait_in_sync(net)
        assert balance(net, "A") == 125
        busy = cli("repair", "--data", str(network_dir), "--peer", VICTIM)  # never under a running network
        assert busy.returncode == 1 and json.loads(busy.stdout)["code"] == "NETWORK_BUSY"
    assert verify_network(network_dir).ok


def test_with_the_orderers_copy_damaged_too_the_other_peers_copies_serve(network_dir: Path) -> None:
    """The same block damaged on the peer and on the orderer: the peer is restored from
    another peer's verified copy; verify still names the orderer, whose own repair (on the
    network's start, from the peers) then makes the whole ledger sound."""
    height = populate(network_dir)
    original = data_files(_blocks(network_dir))
    for blocks in (_blocks(network_dir), _blocks(network_dir, orderer_name(network_dir))):
        path, offset, length = record_location(blocks, height - 1)
        flip(path, offset + RECORD_HEADER.size + length // 3, 0x02)
    result = repair_network_peer(network_dir, VICTIM)
    assert result["damaged_from"] == height - 1 and result["blocks_restored"] == 1
    assert data_files(_blocks(network_dir)) == original
    assert not result["verify"]["ok"] and result["verify"]["first_fault"]["node"].startswith("orderer"), result["verify"]
    path, offset, length = record_location(_blocks(network_dir), height - 1)  # damaged again: the first kept bytes stay
    flip(path, offset + RECORD_HEADER.size + length // 3, 0x02)
    again = repair_network_peer(network_dir, VICTIM)
    assert again["damaged_from"] == height - 1 and len(set(result["kept"] + again["kept"])) == 2
    with Network.open(network_dir) as net:
        assert net.orderer.height == height
    assert verify_network(network_dir).ok


@pytest.mark.postgres
def test_a_peer_whose_state_is_on_postgresql_is_repaired_and_its_state_rebuilt(network_dir: Path, postgres_server: PostgresServer) -> None:  # noqa: F811
    prefix = f"repair_{os.getpid()}"
    names = ["peer0_org1", "peer1_org1", "peer0_org2", "peer1_org2"]  # layout.state_url's database names
    for name in names:
        postgres_server.create_database(f"{prefix}_{name}")
    try:
        network_file = NetworkLayout(network_dir).network_file
        template = postgres_server.admin_url.rsplit("/", 1)[0] + f"/{prefix}_{{peer}}"
        text = network_file.read_text()
        assert "  state: sqlite\n" in text
        network_file.write_text(text.replace("  state: sqlite\n", f"  state: {template}\n"))
        height = populate(network_dir)
        original = data_files(_blocks(network_dir))
        path, offset, length = record_location(_blocks(network_dir), 1)
        flip(path, offset + 5, 0x01)  # inside the record's CRC field
        result = repair_network_peer(network_dir, VICTIM)
        assert result["damaged_from"] == 1 and result["blocks_restored"] == height - 1 and result["state_rebuilt"]
        assert result["verify"]["ok"], result["verify"]["problems"]  # state, history, tx index on PostgreSQL compared too
        assert data_files(_blocks(network_dir)) == original
        assert not NetworkLayout(network_dir).state_sqlite(VICTIM).exists()  # the state really is on PostgreSQL
    finally:
        for name in names:
            postgres_server.drop_database(f"{prefix}_{name}")

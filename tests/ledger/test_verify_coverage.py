"""`verify` covers the genesis file, block files, block index, orderer vs every peer, state,
history, tx index and savepoint; names the first fault with a code; never crashes. Each
tamper test counts what it tried and what verify caught."""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from netkit import cli
from test_tamper_and_crash import populate

from ledger.core.blocks import seal_block
from ledger.core.channel_config import genesis_config
from ledger.core.encoding import decode, encode
from ledger.core.messages import Block
from ledger.node.layout import NetworkLayout
from ledger.node.material import load_genesis, load_node_identity
from ledger.node.network import Network
from ledger.storage.blockstore import INDEX_NAME, BlockStore
from ledger.tools.verify import verify_network

PEER = "peer1.Org2"


@pytest.fixture(scope="module")
def populated(pristine_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("verify") / "net"
    shutil.copytree(pristine_dir, data)
    populate(data)
    report = verify_network(data)
    assert report.ok, report.problems
    return data


@pytest.fixture
def copy_of(populated: Path, tmp_path: Path) -> Callable[[str], Path]:
    def make(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(populated, target)
        return target

    return make


def first_code(data: Path) -> tuple[str, dict]:
    report = verify_network(data)
    assert not report.ok
    return report.faults[0]["code"], report.faults[0]


def orderer_of(data: Path) -> str:
    return genesis_config(load_genesis(NetworkLayout(data))).orderers[0].node_id


@pytest.mark.parametrize(
    ("table", "change", "code"),
    [
        ("history", "UPDATE history SET value = CAST('forged' AS BLOB) WHERE rowid = (SELECT max(rowid) FROM history)", "HISTORY_MISMATCH"),
        ("history", "DELETE FROM history WHERE rowid = (SELECT min(rowid) FROM history WHERE key LIKE '%user/A')", "HISTORY_MISMATCH"),
        ("history", "UPDATE history SET tx_id = 'ab' || substr(tx_id, 3) WHERE rowid = (SELECT min(rowid) FROM history)", "HISTORY_MISMATCH"),
        ("txindex", "UPDATE txindex SET code = 6 WHERE tx_id = (SELECT max(tx_id) FROM txindex)", "TXINDEX_MISMATCH"),
        ("txindex", "UPDATE txindex SET block = block + 1 WHERE tx_id = (SELECT min(tx_id) FROM txindex)", "TXINDEX_MISMATCH"),
        ("txindex", "DELETE FROM txindex WHERE tx_id = (SELECT min(tx_id) FROM txindex)", "TXINDEX_MISMATCH"),
        ("txindex", "INSERT INTO txindex VALUES ('" + "f" * 64 + "', 1, 0, 0)", "TXINDEX_MISMATCH"),
        ("savepoint", "UPDATE savepoint SET commit_hash = zeroblob(32)", "SAVEPOINT_MISMATCH"),
    ],
)
def test_edited_or_deleted_rows_of_history_tx_index_and_savepoint_are_named(copy_of: Callable[[str], Path], table: str, change: str, code: str) -> None:
    data = copy_of("rows")
    with sqlite3.connect(NetworkLayout(data).state_sqlite(PEER)) as db:
        assert db.execute(change).rowcount == 1
    found, fault = first_code(data)
    assert (found, fault["node"]) == (code, PEER), fault


def test_every_random_flip_of_the_block_index_is_detected(copy_of: Callable[[str], Path], populated: Path) -> None:
    layout = NetworkLayout(populated)
    nodes = [orderer_of(populated), PEER]
    rng = random.Random(5)
    tried, caught = 30, 0
    for attempt in range(tried):
        node = nodes[attempt % 2]
        data = copy_of(f"index{attempt}")
        index = NetworkLayout(data).blocks_dir(node) / INDEX_NAME
        raw = bytearray(index.read_bytes())
        raw[rng.randrange(len(raw))] ^= rng.randrange(1, 256)
        index.write_bytes(bytes(raw))
        code, fault = first_code(data)
        assert (code, fault["node"]) == ("INDEX_MISMATCH", node), fault
        caught += 1
        shutil.rmtree(data)
    assert caught == tried
    assert (layout.blocks_dir(PEER) / INDEX_NAME).exists()


def test_every_random_flip_of_genesis_block_is_detected(copy_of: Callable[[str], Path]) -> None:
    rng = random.Random(3)
    tried, caught = 25, 0
    for attempt in range(tried):
        data = copy_of(f"genesis{attempt}")
        path = NetworkLayout(data).genesis_file
        raw = bytearray(path.read_bytes())
        raw[rng.randrange(len(raw))] ^= rng.randrange(1, 256)
        path.write_bytes(bytes(raw))
        code, fault = first_code(data)
        assert (code, fault["node"]) == ("GENESIS_DAMAGED", "genesis.block"), fault
        caught += 1
        shutil.rmtree(data)
    assert caught == tried


def test_an_orderer_chain_that_differs_from_the_peers_is_named(copy_of: Callable[[str], Path]) -> None:
    """The orderer's last block re-sealed (validly signed, another timestamp): its own chain
    checks out, but it is not the block the peers hold."""
    data = copy_of("fork")
    layout = NetworkLayout(data)
    orderer = orderer_of(data)
    with BlockStore(layout.blocks_dir(orderer)) as store:
        last = store.height - 1
        old = decode(store.get(last), Block)
        recut = seal_block(last, old.header.previous_hash, list(old.data), load_node_identity(layout, orderer), old.header.timestamp_ms + 1)
        store.truncate(last)
        store.append(last, encode(recut))
    report = verify_network(data)
    assert not report.ok
    assert report.chains[0].problems == []  # the orderer's own chain is sound
    diverging = [f for f in report.faults if f["code"] == "CHAIN_DIVERGES"]
    assert len(diverging) == len(report.chains) - 1 and {f["block"] for f in diverging} == {last}, report.faults


def test_cli_verify_prints_one_json_document_and_a_malformed_database_is_a_fault(copy_of: Callable[[str], Path]) -> None:
    data = copy_of("malformed")
    done = cli("verify", "--data", str(data))
    document = json.loads(done.stdout)
    assert (done.returncode, document["ok"], document["first_fault"]) == (0, True, None)
    assert document["checked_blocks"] == max(n["height"] for n in document["nodes"])  # blocks, not blocks x nodes
    state = NetworkLayout(data).state_sqlite(PEER)
    for extra in state.parent.glob("state.sqlite-*"):
        extra.unlink()
    state.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 64)
    done = cli("verify", "--data", str(data))
    assert "Traceback" not in done.stdout + done.stderr
    document = json.loads(done.stdout)
    assert done.returncode == 1
    assert document["first_fault"]["code"] == "DATABASE_UNREADABLE" and document["first_fault"]["node"] == PEER, document


def test_cli_verify_on_a_running_network_is_network_busy(copy_of: Callable[[str], Path]) -> None:
    data = copy_of("busy")
    with Network.open(data):
        done = cli("verify", "--data", str(data))
    assert "Traceback" not in done.stdout + done.stderr
    assert (done.returncode, json.loads(done.stdout)["code"]) == (1, "NETWORK_BUSY")

"""Tampering is named by `verify`; crashes and torn writes are recovered on the next open."""

from __future__ import annotations

import shutil
import sqlite3
import textwrap
from pathlib import Path

from netkit import balance, cli, python_subprocess, submit, wait_in_sync

from ledger.node.layout import NetworkLayout
from ledger.node.network import Network
from ledger.storage.blockstore import INDEX_ENTRY, INDEX_NAME, RECORD_HEADER, BlockStore, data_file_name
from ledger.storage.statedb import StateDB
from ledger.tools.verify import verify_network

CRASH_EXIT_CODE = 86


def blocks_dir(data: Path, peer: str) -> Path:
    return NetworkLayout(data).blocks_dir(peer)


def record_location(directory: Path, number: int) -> tuple[Path, int, int]:
    """(data file, record offset, payload length) of block `number` in a block store."""
    entry = (directory / INDEX_NAME).read_bytes()[number * INDEX_ENTRY.size : (number + 1) * INDEX_ENTRY.size]
    file_no, offset = INDEX_ENTRY.unpack(entry)
    path = directory / data_file_name(file_no)
    with open(path, "rb") as data:
        data.seek(offset)
        length = RECORD_HEADER.unpack(data.read(RECORD_HEADER.size))[0]
    return path, offset, length


def populate(data: Path) -> int:
    """Open the network, commit a few blocks (A: 100 tokens, then 25 more), close; returns the height."""
    with Network.open(data) as net:
        alice = net.enroll("Org1", "alice")
        submit(net, alice, "userRegister", "Alice", "A")
        submit(net, alice, "userTopup", "A", 100)
        submit(net, alice, "userTopup", "A", 25)
        height, _ = wait_in_sync(net)
    return height


def test_flipped_byte_inside_a_block_is_named_by_verify(network_dir: Path) -> None:
    height = populate(network_dir)
    path, offset, length = record_location(blocks_dir(network_dir, "peer1.Org1"), 2)
    raw = bytearray(path.read_bytes())
    raw[offset + RECORD_HEADER.size + length // 2] ^= 0x01
    path.write_bytes(bytes(raw))

    done = cli("verify", "--data", str(network_dir))
    assert done.returncode == 1, done.stdout
    assert "peer1.Org1: block 2" in done.stdout
    report = verify_network(network_dir)
    assert not report.ok and all(p.startswith("peer1.Org1: block 2") for p in report.problems), report.problems
    assert {c.node: c.height for c in report.chains}["peer0.Org1"] == height


def test_flipped_byte_with_a_recomputed_crc_is_still_named_by_verify(network_dir: Path) -> None:
    """An attacker who also fixes the record's CRC: the Merkle root / hash links give it away."""
    import zlib

    populate(network_dir)
    path, offset, length = record_location(blocks_dir(network_dir, "peer0.Org2"), 2)
    raw = bytearray(path.read_bytes())
    start = offset + RECORD_HEADER.size
    payload = bytearray(raw[start : start + length])
    payload[-200] ^= 0x01  # inside the transactions, past the header
    raw[start : start + length] = payload
    raw[offset : offset + RECORD_HEADER.size] = RECORD_HEADER.pack(length, zlib.crc32(bytes(payload)), 2)
    path.write_bytes(bytes(raw))
    report = verify_network(network_dir)
    assert not report.ok
    assert report.problems[0].startswith("peer0.Org2: block 2"), report.problems


def test_edited_state_row_is_named_by_verify(network_dir: Path) -> None:
    populate(network_dir)
    assert verify_network(network_dir).ok
    with sqlite3.connect(NetworkLayout(network_dir).state_sqlite("peer0.Org2")) as db:
        changed = db.execute(
            "UPDATE state SET value = CAST(? AS BLOB) WHERE key = ?", (b'{"Id": "A", "Token": 1000000}', "powerdata/user/A")
        ).rowcount
    assert changed == 1
    report = verify_network(network_dir)
    assert not report.ok
    assert report.problems == ["peer0.Org2: state key 'powerdata/user/A': value or version differs from what the blocks wrote"]


def test_process_killed_between_block_append_and_state_commit_recovers_to_the_same_state(network_dir: Path) -> None:
    crash_block = 3
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        sys.path.insert(0, "tests/ledger")
        from netkit import submit
        from ledger.node.network import Network
        net = Network.open(Path({str(network_dir)!r}))
        alice = net.enroll("Org1", "alice")
        submit(net, alice, "userRegister", "Alice", "A")
        for _ in range(6):
            submit(net, alice, "userTopup", "A", 10)
        print("not crashed")
        """
    )
    done = python_subprocess(script, env={"GRIDLEDGER_CRASH_AFTER_APPEND": f"peer1.Org2:{crash_block}"})
    assert done.returncode == CRASH_EXIT_CODE, (done.stdout, done.stderr[-3000:])

    # On disk: peer1.Org2 has block 3 in its files but its state stops at block 2.
    with BlockStore(blocks_dir(network_dir, "peer1.Org2"), read_only=True) as store:
        assert store.height == crash_block + 1
    state = StateDB(f"sqlite:///{NetworkLayout(network_dir).state_sqlite('peer1.Org2')}")
    assert state.savepoint()[0] == crash_block - 1
    state.close()
    report = verify_network(network_dir)
    assert any(p.startswith("peer1.Org2: state database applied up to block 2") for p in report.problems), report.problems

    with Network.open(network_dir) as net:
        height, commit_hash = wait_in_sync(net)
        assert height >= crash_block + 1
        assert len({p.state_digest() for p in net.peers}) == 1
        expected = 10 * (height - 2)  # blocks 2.. are top-ups of 10
        assert balance(net, "A") == expected
        more = submit(net, net.enroll("Org1", "bob"), "userRegister", "Bob", "B")
        assert more.block == height
        wait_in_sync(net)
    assert verify_network(network_dir).ok


def test_garbage_half_record_after_the_last_block_is_cut_on_reopen(network_dir: Path) -> None:
    height = populate(network_dir)
    path, offset, length = record_location(blocks_dir(network_dir, "peer0.Org1"), height - 1)
    size = path.stat().st_size
    with open(path, "ab") as data:
        data.write(RECORD_HEADER.pack(1000, 0xDEADBEEF, height) + b"\x5a" * 500)
    report = verify_network(network_dir)
    assert any("torn (incomplete) record" in p for p in report.problems), report.problems

    with Network.open(network_dir) as net:
        assert wait_in_sync(net)[0] == height
        submit(net, net.enroll("Org1", "bob"), "userRegister", "Bob", "B")
        wait_in_sync(net)
    assert verify_network(network_dir).ok
    assert path.stat().st_size > size  # cut back, then the next block appended cleanly


def test_torn_last_block_is_fetched_again_from_the_orderer(network_dir: Path) -> None:
    """A crash mid-append of block n: the peer's state is at n-1 and half of block n is on disk."""
    peer = "peer1.Org1"
    populate(network_dir)
    peer_dir = NetworkLayout(network_dir).node_dir(peer)
    saved = {p.name: p.read_bytes() for p in peer_dir.glob("state.sqlite*")}
    with Network.open(network_dir) as net:
        last = submit(net, net.enroll("Org1", "bob"), "userRegister", "Bob", "B").block
        height, commit_hash = wait_in_sync(net)
    for p in peer_dir.glob("state.sqlite*"):
        p.unlink()
    for name, content in saved.items():
        (peer_dir / name).write_bytes(content)
    path, offset, length = record_location(blocks_dir(network_dir, peer), last)
    with open(path, "r+b") as data:
        data.truncate(offset + RECORD_HEADER.size + length // 2)

    with Network.open(network_dir) as net:
        assert wait_in_sync(net) == (height, commit_hash)
        target = next(p for p in net.peers if p.name == peer)
        assert target.state.savepoint()[0] == last
    assert verify_network(network_dir).ok


def test_copy_of_a_network_dir_is_independent(network_dir: Path, tmp_path: Path) -> None:
    """Sanity of the fixtures: a copied network opens and verifies on its own."""
    populate(network_dir)
    twin = tmp_path / "twin"
    shutil.copytree(network_dir, twin)
    assert verify_network(twin).ok


def test_lost_last_block_whose_state_was_already_applied_is_rebuilt_and_fetched_again(network_dir: Path) -> None:
    """The block files lost a block the state had applied: the state is rebuilt, the block re-fetched."""
    height = populate(network_dir)
    with Network.open(network_dir) as net:
        expected = wait_in_sync(net)
    path, offset, length = record_location(blocks_dir(network_dir, "peer1.Org1"), height - 1)
    with open(path, "r+b") as data:
        data.truncate(offset + RECORD_HEADER.size + length // 2)

    with Network.open(network_dir) as net:
        assert wait_in_sync(net) == expected
        assert balance(net, "A") == 125
    assert verify_network(network_dir).ok

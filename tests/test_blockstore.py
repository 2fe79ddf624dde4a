"""Block store: append-only files, index, rollover, torn-tail recovery, corruption detection."""

from __future__ import annotations

import hashlib
import inspect
import os
import random
import shutil
import threading
from pathlib import Path

import pytest

from ledger.storage.blockstore import (
    DAMAGED_PREFIX,
    INDEX_ENTRY,
    INDEX_NAME,
    RECORD_HEADER,
    BlockStore,
    BlockStoreCorruption,
    cut_damaged,
    data_file_name,
)


def block(n: int, size: int = 40) -> bytes:
    """Distinct, deterministic block bytes of a given size."""
    seed = hashlib.sha256(n.to_bytes(8, "big")).digest()
    return (seed * (size // len(seed) + 1))[:size]


def fill(directory: Path, count: int, *, file_bytes_max: int = 200, size: int = 40) -> None:
    with BlockStore(directory, file_bytes_max=file_bytes_max) as store:
        for n in range(count):
            store.append(n, block(n, size))


def snapshot_files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def record_offset(directory: Path, number: int) -> tuple[Path, int]:
    entry = (directory / INDEX_NAME).read_bytes()[number * INDEX_ENTRY.size : (number + 1) * INDEX_ENTRY.size]
    file_no, offset = INDEX_ENTRY.unpack(entry)
    return directory / data_file_name(file_no), offset


def test_append_get_and_iterate_across_file_rollover(tmp_path: Path) -> None:
    with BlockStore(tmp_path, file_bytes_max=200) as store:
        for n in range(25):
            store.append(n, block(n))
        assert store.height == 25
        assert [store.get(n) for n in range(25)] == [block(n) for n in range(25)]
        assert list(store.iter_blocks()) == [(n, block(n)) for n in range(25)]
        assert list(store.iter_blocks(17)) == [(n, block(n)) for n in range(17, 25)]
        assert list(store.iter_blocks(25)) == []
        with pytest.raises(IndexError):
            store.get(25)
    data_files = sorted(p.name for p in tmp_path.glob("blocks_*.bin"))
    assert len(data_files) > 5  # 56-byte records, 200-byte files: 3 per file
    assert all(p.stat().st_size <= 200 for p in tmp_path.glob("blocks_*.bin"))


def test_block_larger_than_file_limit_gets_its_own_file(tmp_path: Path) -> None:
    with BlockStore(tmp_path, file_bytes_max=100) as store:
        store.append(0, block(0, 10))
        store.append(1, block(1, 500))
        store.append(2, block(2, 10))
        assert [store.get(n) for n in range(3)] == [block(0, 10), block(1, 500), block(2, 10)]
    assert len(list(tmp_path.glob("blocks_*.bin"))) == 3


def test_append_out_of_order_is_a_programmer_error(tmp_path: Path) -> None:
    with BlockStore(tmp_path) as store:
        store.append(0, b"genesis")
        with pytest.raises(AssertionError):
            store.append(2, b"skips one")
        with pytest.raises(AssertionError):
            store.append(0, b"again")
        assert store.height == 1


def test_reopen_keeps_height_and_contents(tmp_path: Path) -> None:
    fill(tmp_path, 12)
    with BlockStore(tmp_path, file_bytes_max=200) as store:
        assert store.height == 12
        assert not store.torn_tail
        store.append(12, block(12))
        assert store.get(11) == block(11)
    with BlockStore(tmp_path) as store:
        assert store.height == 13
        assert list(store.iter_blocks()) == [(n, block(n)) for n in range(13)]


def test_second_writer_on_same_directory_is_refused(tmp_path: Path) -> None:
    with BlockStore(tmp_path):
        with pytest.raises(RuntimeError, match="open for writing elsewhere"):
            BlockStore(tmp_path)


@pytest.mark.parametrize(
    "tail",
    [
        pytest.param(lambda: RECORD_HEADER.pack(40, 0, 10)[:9], id="half-a-header"),
        pytest.param(lambda: RECORD_HEADER.pack(40, 0, 10) + block(10)[:13], id="half-a-payload"),
        pytest.param(lambda: b"\x00" * 4096, id="zero-filled-tail"),
    ],
)
def test_torn_tail_is_cut_on_reopen_and_appending_continues(tmp_path: Path, tail) -> None:
    fill(tmp_path, 10, file_bytes_max=10_000)
    last_file = tmp_path / data_file_name(0)
    good_size = last_file.stat().st_size
    with open(last_file, "ab") as f:
        f.write(tail())
    with BlockStore(tmp_path, file_bytes_max=10_000) as store:
        assert store.torn_tail
        assert store.height == 10
        assert last_file.stat().st_size == good_size
        store.append(10, block(10))
    with BlockStore(tmp_path) as store:
        assert not store.torn_tail
        assert list(store.iter_blocks()) == [(n, block(n)) for n in range(11)]


@pytest.mark.parametrize(
    "tail",
    [
        pytest.param(lambda: RECORD_HEADER.pack(40, 12345, 10) + block(10), id="crc-mismatch-in-a-complete-final-record"),
        pytest.param(lambda: b"\xde\xad\xbe\xef\x01" + b"\xff" * 95, id="garbage-after-last-record"),
        pytest.param(lambda: RECORD_HEADER.pack(40, 0, 11) + block(11)[:13], id="half-a-record-of-the-wrong-block"),
        pytest.param(lambda: RECORD_HEADER.pack(0, 0xFFFF0000, 10)[:6], id="partial-header-with-length-zero"),
    ],
)
def test_damaged_final_bytes_that_are_no_crash_prefix_are_refused_and_kept(tmp_path: Path, tail) -> None:
    fill(tmp_path, 10, file_bytes_max=10_000)
    with open(tmp_path / data_file_name(0), "ab") as f:
        f.write(tail())
    before = snapshot_files(tmp_path)
    with pytest.raises(BlockStoreCorruption) as error:
        BlockStore(tmp_path, file_bytes_max=10_000)
    assert error.value.number == 10 and error.value.code == "STORAGE_CORRUPT"
    after = snapshot_files(tmp_path)
    assert {k: v for k, v in after.items() if k != INDEX_NAME} == {k: v for k, v in before.items() if k != INDEX_NAME}


def record_spans(directory: Path, count: int) -> list[tuple[Path, int, int]]:
    """(data file, record offset, record size) of blocks 0..count-1."""
    spans = []
    for n in range(count):
        path, offset = record_offset(directory, n)
        with open(path, "rb") as data:
            data.seek(offset)
            spans.append((path, offset, RECORD_HEADER.size + RECORD_HEADER.unpack(data.read(RECORD_HEADER.size))[0]))
    return spans


def reopen_outcome(directory: Path, count: int, expected_number: int) -> str:
    """Open after damage: 'refused' (naming `expected_number`), 'truncated' or 'intact'; asserts
    that no intact block was dropped whatever happened."""
    try:
        store = BlockStore(directory, file_bytes_max=200)
    except BlockStoreCorruption as exc:
        assert exc.number == expected_number, (exc.number, expected_number, exc.reason)
        return "refused"
    with store:
        if store.torn_tail:
            assert store.height == expected_number == count - 1  # only the damaged last record went
            return "truncated"
        assert store.height == count
        return "intact"


@pytest.mark.parametrize("file_bytes_max", [10_000, 200], ids=["one-file", "rolled-over"])
def test_flipping_any_bit_of_any_length_field_is_refused_naming_the_block(tmp_path: Path, file_bytes_max: int) -> None:
    """The defect: one flipped length bit made recovery cut seven intact blocks as a 'torn tail'."""
    count = 8
    fill(tmp_path / "pristine", count, file_bytes_max=file_bytes_max)
    spans = record_spans(tmp_path / "pristine", count)
    outcomes: dict[str, int] = {"refused": 0, "truncated": 0, "intact": 0}
    tried = 0
    for number, (path, offset, _) in enumerate(spans):
        for bit in range(32):
            work = tmp_path / f"b{number}-{bit}"
            shutil.copytree(tmp_path / "pristine", work)
            (work / INDEX_NAME).unlink()  # no index: recovery must scan every record
            target = work / path.name
            raw = bytearray(target.read_bytes())
            raw[offset + bit // 8] ^= 0x80 >> (bit % 8)
            target.write_bytes(bytes(raw))
            outcomes[reopen_outcome(work, count, number)] += 1
            tried += 1
            shutil.rmtree(work)
    assert tried == count * 32
    assert outcomes == {"refused": tried, "truncated": 0, "intact": 0}, outcomes


def test_random_byte_flips_are_refused_naming_the_damaged_block(tmp_path: Path) -> None:
    count = 12
    fill(tmp_path / "pristine", count, file_bytes_max=200)
    spans = record_spans(tmp_path / "pristine", count)
    rng = random.Random(7)
    outcomes: dict[str, int] = {"refused": 0, "truncated": 0, "intact": 0}
    flips = 150
    for attempt in range(flips):
        number = rng.randrange(count)
        path, offset, size = spans[number]
        work = tmp_path / f"flip{attempt}"
        shutil.copytree(tmp_path / "pristine", work)
        (work / INDEX_NAME).unlink()
        target = work / path.name
        raw = bytearray(target.read_bytes())
        raw[offset + rng.randrange(size)] ^= rng.randrange(1, 256)
        target.write_bytes(bytes(raw))
        outcomes[reopen_outcome(work, count, number)] += 1
        shutil.rmtree(work)
    assert outcomes == {"refused": flips, "truncated": 0, "intact": 0}, outcomes


def test_a_crash_at_any_byte_of_the_last_append_is_cut_and_nothing_else(tmp_path: Path) -> None:
    count = 6
    fill(tmp_path / "pristine", count, file_bytes_max=200)
    path, offset, size = record_spans(tmp_path / "pristine", count)[-1]
    outcomes: dict[str, int] = {"refused": 0, "truncated": 0, "intact": 0}
    for cut in range(1, size):
        work = tmp_path / f"cut{cut}"
        shutil.copytree(tmp_path / "pristine", work)
        (work / INDEX_NAME).unlink()
        target = work / path.name
        target.write_bytes(target.read_bytes()[: offset + cut])
        outcomes[reopen_outcome(work, count, count - 1)] += 1
        shutil.rmtree(work)
    assert outcomes == {"refused": 0, "truncated": size - 1, "intact": 0}, outcomes


def test_flipped_index_entries_in_the_middle_are_rebuilt_on_open(tmp_path: Path) -> None:
    """Entries pointing past the files, at an absurd offset or at another record, between two
    sound ends: the open walks every entry and re-indexes from the first wrong one."""
    fill(tmp_path, 10, file_bytes_max=200)
    index = tmp_path / INDEX_NAME
    good_index = index.read_bytes()
    raw = bytearray(good_index)
    raw[4 * INDEX_ENTRY.size] ^= 0x40  # block 4's file number
    raw[6 * INDEX_ENTRY.size + 4] ^= 0x80  # block 6's offset: beyond 2**63
    raw[7 * INDEX_ENTRY.size + INDEX_ENTRY.size - 1] ^= 0x01  # block 7's offset: one byte off
    index.write_bytes(bytes(raw))
    with BlockStore(tmp_path, file_bytes_max=200) as store:
        assert store.height == 10
        assert [store.get(n) for n in range(10)] == [block(n) for n in range(10)]
    assert index.read_bytes() == good_index


def test_an_index_entry_flipped_while_open_is_named_on_read_never_an_os_error(tmp_path: Path) -> None:
    """An entry damaged after the open's check is corruption of that block when read."""
    fill(tmp_path, 10, file_bytes_max=200)
    index = tmp_path / INDEX_NAME
    with BlockStore(tmp_path, file_bytes_max=200, read_only=True) as store:
        raw = bytearray(index.read_bytes())
        raw[4 * INDEX_ENTRY.size] ^= 0x40  # block 4's file number
        raw[6 * INDEX_ENTRY.size + 4] ^= 0x80  # block 6's offset: beyond 2**63
        index.write_bytes(bytes(raw))
        for number in (4, 6):
            with pytest.raises(BlockStoreCorruption) as error:
                store.get(number)
            assert error.value.number == number
        assert store.get(5) == block(5)


def test_cut_damaged_keeps_the_cut_bytes_and_the_block_can_be_appended_again(tmp_path: Path) -> None:
    fill(tmp_path, 9, file_bytes_max=200)
    path, offset = record_offset(tmp_path, 7)
    raw = bytearray(path.read_bytes())
    raw[offset + RECORD_HEADER.size + 1] ^= 0x10
    path.write_bytes(bytes(raw))
    (tmp_path / INDEX_NAME).unlink()
    with pytest.raises(BlockStoreCorruption) as error:
        BlockStore(tmp_path, file_bytes_max=200)
    kept = cut_damaged(tmp_path, error.value)
    assert kept and all(p.name.startswith(DAMAGED_PREFIX) for p in kept)
    with BlockStore(tmp_path, file_bytes_max=200) as store:
        assert store.height == 7 and not store.torn_tail
        store.append(7, block(7))
        store.append(8, block(8))
    with BlockStore(tmp_path) as store:
        assert list(store.iter_blocks()) == [(n, block(n)) for n in range(9)]


def test_crc_flip_in_a_middle_block_raises_corruption_naming_the_block(tmp_path: Path) -> None:
    fill(tmp_path, 10, file_bytes_max=10_000)
    path, offset = record_offset(tmp_path, 4)
    data = bytearray(path.read_bytes())
    data[offset + RECORD_HEADER.size + 3] ^= 0x01
    path.write_bytes(bytes(data))
    before = snapshot_files(tmp_path)
    with BlockStore(tmp_path) as store:  # the index is sound at both ends: found on read
        with pytest.raises(BlockStoreCorruption) as read_error:
            store.get(4)
        with pytest.raises(BlockStoreCorruption):
            list(store.iter_blocks())
        assert store.get(5) == block(5)
    assert read_error.value.number == 4
    assert read_error.value.offset == offset
    assert "block 4" in str(read_error.value)
    (tmp_path / INDEX_NAME).unlink()  # a rebuild scans every record: found on open
    with pytest.raises(BlockStoreCorruption) as open_error:
        BlockStore(tmp_path)
    assert open_error.value.number == 4
    assert open_error.value.path == path
    assert "CRC32" in open_error.value.reason
    del before[INDEX_NAME]
    assert {k: v for k, v in snapshot_files(tmp_path).items() if k != INDEX_NAME} == before  # nothing cut


def test_bad_record_in_an_earlier_file_is_corruption_not_a_torn_tail(tmp_path: Path) -> None:
    fill(tmp_path, 12, file_bytes_max=200)
    first = tmp_path / data_file_name(0)
    first.write_bytes(first.read_bytes()[:-10])  # last record of file 0 torn: not the chain's tail
    (tmp_path / INDEX_NAME).unlink()
    with pytest.raises(BlockStoreCorruption) as error:
        BlockStore(tmp_path)
    assert error.value.number == 2
    assert error.value.path == first


def test_missing_data_file_in_the_sequence_is_corruption(tmp_path: Path) -> None:
    fill(tmp_path, 12, file_bytes_max=200)
    (tmp_path / data_file_name(1)).unlink()
    with pytest.raises(BlockStoreCorruption, match="missing"):
        BlockStore(tmp_path)


def test_read_only_open_never_modifies_files_and_reports_torn_tail(tmp_path: Path) -> None:
    fill(tmp_path, 9, file_bytes_max=200)
    with open(tmp_path / data_file_name(2), "ab") as f:
        f.write(RECORD_HEADER.pack(40, 0, 9) + b"half")
    (tmp_path / INDEX_NAME).write_bytes((tmp_path / INDEX_NAME).read_bytes()[: 4 * INDEX_ENTRY.size + 5])
    before = snapshot_files(tmp_path)
    with BlockStore(tmp_path, read_only=True) as store:
        assert store.torn_tail
        assert store.height == 9
        assert list(store.iter_blocks()) == [(n, block(n)) for n in range(9)]
        assert store.get(8) == block(8)
        with pytest.raises(AssertionError):
            store.append(9, block(9))
    assert snapshot_files(tmp_path) == before


def test_read_only_open_of_a_store_without_index_works_in_memory_only(tmp_path: Path) -> None:
    fill(tmp_path, 7)
    (tmp_path / INDEX_NAME).unlink()
    before = snapshot_files(tmp_path)
    with BlockStore(tmp_path, read_only=True) as store:
        assert store.height == 7
        assert store.get(6) == block(6)
    assert snapshot_files(tmp_path) == before


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda p: p.unlink(), id="index-deleted"),
        pytest.param(lambda p: p.write_bytes(p.read_bytes()[: 3 * INDEX_ENTRY.size]), id="index-behind"),
        pytest.param(lambda p: p.write_bytes(p.read_bytes()[: 3 * INDEX_ENTRY.size + 7]), id="index-partial-entry"),
        pytest.param(lambda p: p.write_bytes(p.read_bytes() + INDEX_ENTRY.pack(0, 999)), id="index-ahead-of-data"),
        pytest.param(lambda p: p.write_bytes(os.urandom(len(p.read_bytes()))), id="index-garbage"),
    ],
)
def test_damaged_index_is_rebuilt_from_data_files(tmp_path: Path, damage) -> None:
    fill(tmp_path, 14, file_bytes_max=200)
    index = tmp_path / INDEX_NAME
    good_index = index.read_bytes()
    damage(index)
    with BlockStore(tmp_path) as store:
        assert store.height == 14
        assert [store.get(n) for n in range(14)] == [block(n) for n in range(14)]
    assert index.read_bytes() == good_index


def test_truncate_drops_blocks_and_files_and_appending_resumes(tmp_path: Path) -> None:
    fill(tmp_path, 15, file_bytes_max=200)
    with BlockStore(tmp_path, file_bytes_max=200) as store:
        store.truncate(4)
        assert store.height == 4
        with pytest.raises(IndexError):
            store.get(4)
        store.append(4, b"replacement")
    assert len(list(tmp_path.glob("blocks_*.bin"))) == 2
    with BlockStore(tmp_path) as store:
        assert store.height == 5
        assert store.get(4) == b"replacement"
        assert list(store.iter_blocks(3)) == [(3, block(3)), (4, b"replacement")]
        store.truncate(0)
        assert store.height == 0
        store.append(0, b"new genesis")
    with BlockStore(tmp_path) as store:
        assert list(store.iter_blocks()) == [(0, b"new genesis")]


def test_iterating_5000_blocks_streams_and_height_comes_from_the_index(tmp_path: Path) -> None:
    fill(tmp_path, 5000, file_bytes_max=64 * 1024, size=100)
    index = tmp_path / INDEX_NAME
    assert index.stat().st_size == 5000 * INDEX_ENTRY.size
    with BlockStore(tmp_path) as store:
        assert store.height == 5000
        blocks = store.iter_blocks()
        assert inspect.isgenerator(blocks)
        assert next(blocks) == (0, block(0, 100))
        # no per-block Python containers on the store itself: its attributes stay small
        assert all(len(v) < 100 for v in vars(store).values() if hasattr(v, "__len__") and not isinstance(v, (str, bytes)))
        count, digest = 1, hashlib.sha256(block(0, 100))
        for number, payload in blocks:
            assert number == count
            digest.update(payload)
            count += 1
        expected = hashlib.sha256(b"".join(block(n, 100) for n in range(5000))).digest()
        assert count == 5000 and digest.digest() == expected


def test_concurrent_readers_while_one_writer_appends(tmp_path: Path) -> None:
    errors: list[BaseException] = []
    with BlockStore(tmp_path, file_bytes_max=2000) as store:
        store.append(0, block(0))
        stop = threading.Event()

        def reader() -> None:
            try:
                while not stop.is_set():
                    height = store.height
                    for n in (0, height // 2, height - 1):
                        assert store.get(n) == block(n)
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=reader) for _ in range(3)]
        for t in threads:
            t.start()
        for n in range(1, 300):
            store.append(n, block(n))
        stop.set()
        for t in threads:
            t.join()
    assert errors == []

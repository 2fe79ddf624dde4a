"""Commit step, storage: the append-only block files that are every peer's source of truth.

The committer appends each validated block here (durable before `append` returns); the
state database is derived from these files and can always be rebuilt from them. Blocks are
stored as opaque bytes: this module never decodes a block.

On disk, in one directory:
- `blocks_000000.bin`, `blocks_000001.bin`, ...: records, rolled over at `file_bytes_max`.
  Record = 4-byte big-endian payload length, 4-byte CRC32 of the payload, 8-byte block
  number, payload.
- `blocks.index`: one fixed-width entry (file number, record offset) per block, so `get`
  is two seeks. It is derived data: written after the record is fsynced, not itself
  fsynced per block, checked against the data on open and rebuilt or caught up from the
  data files when it is wrong or behind.

Recovery on open (writable): only a torn final record is cut off (and logged): what a
crash mid-append leaves, i.e. a proper prefix of the next block's record at the very end of
the last data file (optionally followed by zeros), or zeros alone. Every other bad record
is corruption and raises `BlockStoreCorruption` naming the block, with nothing changed on
disk: a complete record that fails its CRC, a length or block number out of place, or a
length that runs past the end while intact records follow (a flipped length bit must
never drop the blocks behind it). Read-only opens change nothing on disk: a torn tail just
ends the chain and sets `torn_tail`.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import re
import struct
import tempfile
import threading
import zlib
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import structlog

from ledger.core.errors import StorageCorruption

log = structlog.get_logger(__name__)

BLOCK_BYTES_MAX = 256 * 2**20  # one record's payload
FILE_BYTES_MAX_DEFAULT = 64 * 2**20  # roll over to a new data file past this size
FILE_NUMBER_MAX = 999_999  # six digits in the file name
RECORD_OFFSET_MAX = 2**40  # no data file grows this large: an index entry beyond it is damage
FILES_OPEN_MAX = 16  # data files kept open for readers (LRU)
READ_BUFFER_BYTES = 1 * 2**20  # buffered sequential reads (iteration, recovery scans)
RECORD_HEADER = struct.Struct(">IIQ")  # payload length, CRC32(payload), block number
INDEX_ENTRY = struct.Struct(">IQ")  # data file number, record offset in that file
INDEX_NAME = "blocks.index"
DAMAGED_PREFIX = "damaged-"  # a repair moves the records it cuts into damaged-<block>-<file>.bin
_DATA_NAME = re.compile(r"^blocks_(\d{6})\.bin$")


class BlockStoreCorruption(StorageCorruption):
    """The block files are damaged somewhere other than a torn final record: a person must look
    (or the node repairs the named block from a verified copy, see `cut_damaged`)."""

    def __init__(self, number: int | None, path: Path, offset: int, reason: str) -> None:
        where = f"block {number}" if number is not None else "block store"
        super().__init__(f"{where} corrupt in {path} at offset {offset}: {reason}")
        self.number = number
        self.path = path
        self.offset = offset
        self.reason = reason


class _Bad(Exception):
    """A record that failed its checks; the caller decides torn tail or corruption."""

    def __init__(self, reason: str, truncated: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.truncated = truncated  # the record runs past the end of its file


def is_torn_tail(path: Path, offset: int, number: int) -> bool:
    """The bytes of `path` from `offset` to its end are what a crash while appending block
    `number` leaves: zeros only, or a proper prefix of that block's record (sound length and
    number, too short to hold the payload, not the whole payload under a damaged length, no
    intact record of the next block inside it). Anything else is damage, not a crash."""
    with open(path, "rb") as data:
        size = os.fstat(data.fileno()).st_size
        if offset >= size:
            return True
        with mmap.mmap(data.fileno(), 0, access=mmap.ACCESS_READ) as view:
            return _tail_is_torn(view, offset, size, number, view[offset : offset + RECORD_HEADER.size])


def _tail_is_torn(view: mmap.mmap, offset: int, size: int, number: int, header: bytes) -> bool:
    if _zeros_only(view, offset, size):
        return True
    number_bytes = number.to_bytes(8, "big")
    if len(header) >= 4:
        length = int.from_bytes(header[:4], "big")
        if not 0 < length <= BLOCK_BYTES_MAX:
            return False
    if len(header) > 8 and header[8:] != number_bytes[: len(header) - 8]:
        return False
    if len(header) < RECORD_HEADER.size:
        return True  # a partial header, and nothing after it
    length, crc, _ = RECORD_HEADER.unpack(header)
    payload_start = offset + RECORD_HEADER.size
    if payload_start + length <= size:
        return False  # the whole record is there: it is damaged, not torn
    if zlib.crc32(view[payload_start:size]) == crc:
        return False  # the whole payload is there under a damaged length field
    return not _intact_record_after(view, payload_start, size, number + 1)


def _zeros_only(view: mmap.mmap, start: int, end: int) -> bool:
    step = READ_BUFFER_BYTES
    for at in range(start, end, step):
        chunk = view[at : min(end, at + step)]
        if chunk.count(0) != len(chunk):
            return False
    return True


def _intact_record_after(view: mmap.mmap, start: int, size: int, number: int) -> bool:
    """Some CRC-correct record of block `number` starts inside view[start:size]."""
    pattern = number.to_bytes(8, "big")
    at = view.find(pattern, start + 8)
    while at != -1:
        header_at = at - 8
        length, crc, _ = RECORD_HEADER.unpack(view[header_at : header_at + RECORD_HEADER.size])
        end = header_at + RECORD_HEADER.size + length
        if 0 < length <= BLOCK_BYTES_MAX and end <= size and zlib.crc32(view[header_at + RECORD_HEADER.size : end]) == crc:
            return True
        at = view.find(pattern, at + 1)
    return False


def cut_damaged(directory: Path, damage: BlockStoreCorruption) -> list[Path]:
    """Repair step: cut the block files at the damaged record `damage` names (it and every
    record after it), keeping the cut bytes in `damaged-*` files beside them, and drop the
    index (the next open rebuilds it). The store then ends at block `damage.number`, which
    the caller appends again from a verified copy. Returns the files holding the cut bytes."""
    name = _DATA_NAME.match(damage.path.name)
    assert damage.number is not None and name is not None, "only a damaged data record can be cut"
    directory = Path(directory)
    file_no = int(name.group(1))
    kept: list[Path] = []
    later = sorted(p for p in directory.iterdir() if (m := _DATA_NAME.match(p.name)) and int(m.group(1)) >= file_no)
    for path in later:
        start = damage.offset if path == damage.path else 0
        keep = unused_path(directory / f"{DAMAGED_PREFIX}{damage.number:08d}-{path.name}")
        with open(path, "rb") as data:
            data.seek(start)
            keep.write_bytes(data.read())
        kept.append(keep)
        if path == damage.path:
            with open(path, "r+b") as data:
                data.truncate(start)
                os.fsync(data.fileno())
        else:
            path.unlink()
    (directory / INDEX_NAME).unlink(missing_ok=True)
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    log.warning("blockstore.damage_cut", directory=str(directory), block=damage.number, reason=damage.reason, kept=[str(k) for k in kept])
    return kept


def unused_path(path: Path) -> Path:
    """`path`, or `path` with a `.1`, `.2`, ... suffix when it exists: a second repair of the
    same block never overwrites the bytes an earlier one kept."""
    candidate, n = path, 0
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}.{n}")
    return candidate


def index_problem(directory: Path, height: int) -> tuple[int, str] | None:
    """(block, why) of the first entry of the on-disk index that does not point at the record
    of its block, or that lists a block past `height`; None when every entry is right (it may
    be behind after a crash). Reads
    record headers only (verify calls it after checking the records themselves)."""
    directory = Path(directory)
    index_path = directory / INDEX_NAME
    if not index_path.exists():
        return (0, "the block index file is missing") if height else None
    entries = index_path.read_bytes()
    if len(entries) % INDEX_ENTRY.size:
        return len(entries) // INDEX_ENTRY.size, f"the block index ends in a partial entry ({len(entries)} bytes)"
    listed = len(entries) // INDEX_ENTRY.size
    number, file_no = 0, 0
    while number < min(height, listed):
        path = directory / data_file_name(file_no)
        if not path.exists():
            break
        size, offset = path.stat().st_size, 0
        with open(path, "rb") as data:
            while offset < size and number < min(height, listed):
                entry = INDEX_ENTRY.unpack_from(entries, number * INDEX_ENTRY.size)
                if entry != (file_no, offset):
                    return number, f"index entry says file {entry[0]} offset {entry[1]}, the record is in file {file_no} at offset {offset}"
                data.seek(offset)
                header = data.read(RECORD_HEADER.size)
                if len(header) < RECORD_HEADER.size:
                    break
                offset += RECORD_HEADER.size + RECORD_HEADER.unpack(header)[0]
                number += 1
        file_no += 1
    if listed > height:
        return height, f"the block index lists {listed} blocks, the block files hold {height}"
    return None  # an index behind the files is what a crash leaves: the next writable open catches it up


def data_file_name(file_no: int) -> str:
    assert 0 <= file_no <= FILE_NUMBER_MAX, "data file number out of range"
    return f"blocks_{file_no:06d}.bin"


def _check_record(header: bytes, payload: bytes | None, number: int) -> int:
    """Payload length of a record whose header (and payload, if given) is sound, else _Bad."""
    if len(header) < RECORD_HEADER.size:
        raise _Bad("incomplete record header", truncated=True)
    length: int
    length, crc, recorded = RECORD_HEADER.unpack(header)
    if length == 0 or length > BLOCK_BYTES_MAX:
        raise _Bad(f"record length {length} out of range", truncated=False)
    if payload is not None:
        if len(payload) < length:
            raise _Bad(f"payload has {len(payload)} of {length} bytes", truncated=True)
        if zlib.crc32(payload) != crc:
            raise _Bad("CRC32 mismatch", truncated=False)
    if recorded != number:
        raise _Bad(f"record holds block {recorded}, expected {number}", truncated=False)
    return length


class BlockStore:
    """Append-only block files plus an on-disk index. One writer thread, any number of readers."""

    def __init__(
        self, directory: Path, *, read_only: bool = False, file_bytes_max: int = FILE_BYTES_MAX_DEFAULT, height_max: int | None = None
    ) -> None:
        """`height_max` (read-only opens only) ends the chain before that block: a repair reads
        the intact blocks before a damaged one without touching the damage."""
        assert 0 < file_bytes_max, "file_bytes_max must be positive"
        assert height_max is None or (read_only and height_max >= 0), "height_max is for read-only opens"
        self._height_max = height_max
        self.directory = Path(directory)
        self.read_only = read_only
        self.file_bytes_max = file_bytes_max
        self.torn_tail = False  # a torn final record was found on open (and cut, unless read-only)
        self._lock = threading.Lock()  # guards the reader fd cache and writer state
        self._read_fds: OrderedDict[int, int] = OrderedDict()
        self._write_fd: int | None = None
        self._index_is_private = False  # read-only: index rebuilt into a temporary file
        if not read_only:
            self.directory.mkdir(parents=True, exist_ok=True)
        elif not self.directory.is_dir():
            raise FileNotFoundError(f"no block store at {self.directory}")
        self._file_count = self._count_data_files()
        self._index_fd = self._open_index()
        self._height = 0
        self._write_file_no, self._write_offset = self._recover()
        if not read_only:
            self._open_writer()

    # --- public API --------------------------------------------------------------------

    @property
    def height(self) -> int:
        """Number of blocks stored: the next block number."""
        return self._height

    def append(self, number: int, block_bytes: bytes) -> None:
        """Append block `number`; the record is on disk (fsynced) when this returns."""
        assert not self.read_only, "block store opened read-only"
        assert self._write_fd is not None, "block store closed"
        assert number == self._height, f"append of block {number} at height {self._height}"
        assert 0 < len(block_bytes) <= BLOCK_BYTES_MAX, "block size out of range"
        record = RECORD_HEADER.pack(len(block_bytes), zlib.crc32(block_bytes), number) + block_bytes
        if self._write_offset > 0 and self._write_offset + len(record) > self.file_bytes_max:
            self._roll_over()
        offset = self._write_offset
        try:
            self._write_all(self._write_fd, record, offset)
            os.fsync(self._write_fd)
        except OSError:
            os.ftruncate(self._write_fd, offset)  # leave no partial record behind
            raise
        self._index_put(number, self._write_file_no, offset)
        self._write_offset = offset + len(record)
        self._height = number + 1

    def get(self, number: int) -> bytes:
        """The bytes of block `number` (IndexError past the end), CRC-checked."""
        if not 0 <= number < self._height:
            raise IndexError(f"block {number} not in store of height {self._height}")
        file_no, offset = self._index_get(number)
        with self._lock:
            fd = self._read_fd(file_no)
            header = os.pread(fd, RECORD_HEADER.size, offset)
            try:
                length = _check_record(header, None, number)
                payload = os.pread(fd, length, offset + RECORD_HEADER.size)
                _check_record(header, payload, number)
            except _Bad as bad:
                raise BlockStoreCorruption(number, self._path(file_no), offset, bad.reason) from None
        return payload

    def iter_blocks(self, start: int = 0) -> Iterator[tuple[int, bytes]]:
        """Blocks from `start` to the current height, read sequentially; holds one block at a time."""
        assert start >= 0, "start must be non-negative"
        if start >= self._height:
            return
        file_no, offset = self._index_get(start)
        number = start
        while number < self._height:
            path = self._path(file_no)
            with open(path, "rb", buffering=READ_BUFFER_BYTES) as data:
                data.seek(offset)
                while number < self._height:
                    header = data.read(RECORD_HEADER.size)
                    if not header:
                        break  # the block is in the next file
                    try:
                        length = _check_record(header, None, number)
                        payload = data.read(length)
                        _check_record(header, payload, number)
                    except _Bad as bad:
                        raise BlockStoreCorruption(number, path, offset, bad.reason) from None
                    yield number, payload
                    offset += RECORD_HEADER.size + length
                    number += 1
            file_no, offset = file_no + 1, 0

    def truncate(self, height: int) -> None:
        """Drop blocks >= `height` from the data files and the index (recovery tools, tests)."""
        assert not self.read_only, "block store opened read-only"
        assert 0 <= height <= self._height, f"truncate to {height} beyond height {self._height}"
        if height == self._height:
            return
        file_no, offset = self._index_get(height)
        with self._lock:
            self._close_data_fds()
            for later in range(file_no + 1, self._file_count):
                self._path(later).unlink()
            with open(self._path(file_no), "r+b") as data:
                data.truncate(offset)
                os.fsync(data.fileno())
            self._fsync_directory()
            os.ftruncate(self._index_fd, height * INDEX_ENTRY.size)
            self._file_count = file_no + 1
            self._write_file_no, self._write_offset = file_no, offset
            self._height = height
            self._open_writer()
        log.info("blockstore.truncated", directory=str(self.directory), height=height)

    def close(self) -> None:
        with self._lock:
            self._close_data_fds()
            if self._index_fd >= 0:
                if not self.read_only:
                    os.fsync(self._index_fd)
                os.close(self._index_fd)  # also releases the writer's flock
                self._index_fd = -1

    def __enter__(self) -> BlockStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- files -------------------------------------------------------------------------

    def _path(self, file_no: int) -> Path:
        return self.directory / data_file_name(file_no)

    def _count_data_files(self) -> int:
        numbers = sorted(int(m.group(1)) for p in self.directory.iterdir() if (m := _DATA_NAME.match(p.name)))
        if numbers != list(range(len(numbers))):
            missing = min(set(range(len(numbers))) - set(numbers))
            raise BlockStoreCorruption(None, self._path(missing), 0, "data file missing from the sequence")
        return len(numbers)

    def _open_index(self) -> int:
        path = self.directory / INDEX_NAME
        if self.read_only:
            if path.exists():
                return os.open(path, os.O_RDONLY)
            return self._private_index(0, -1)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RuntimeError(f"block store {self.directory} is open for writing elsewhere") from None
        return fd

    def _private_index(self, entries: int, source_fd: int) -> int:
        """Read-only mode: a temporary index holding the first `entries` entries of `source_fd`."""
        fd, name = tempfile.mkstemp(prefix="gridledger-index-")
        os.unlink(name)
        if entries:
            self._write_all(fd, os.pread(source_fd, entries * INDEX_ENTRY.size, 0), 0)
        self._index_is_private = True
        return fd

    def _open_writer(self) -> None:
        if self._write_fd is not None:
            os.close(self._write_fd)
        if self._file_count == 0:
            self._file_count = 1
            self._write_file_no, self._write_offset = 0, 0
            self._write_fd = os.open(self._path(0), os.O_WRONLY | os.O_CREAT, 0o644)
            self._fsync_directory()
        else:
            self._write_fd = os.open(self._path(self._write_file_no), os.O_WRONLY)

    def _roll_over(self) -> None:
        assert self._write_fd is not None
        file_no = self._write_file_no + 1
        assert file_no <= FILE_NUMBER_MAX, "block store out of data file numbers"
        new_fd = os.open(self._path(file_no), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self._fsync_directory()
        with self._lock:
            os.close(self._write_fd)
            self._write_fd = new_fd
            self._write_file_no, self._write_offset = file_no, 0
            self._file_count = file_no + 1

    def _read_fd(self, file_no: int) -> int:
        """A cached read-only fd for a data file; caller holds the lock."""
        fd = self._read_fds.get(file_no)
        if fd is None:
            fd = os.open(self._path(file_no), os.O_RDONLY)
            self._read_fds[file_no] = fd
            if len(self._read_fds) > FILES_OPEN_MAX:
                os.close(self._read_fds.popitem(last=False)[1])
        else:
            self._read_fds.move_to_end(file_no)
        return fd

    def _close_data_fds(self) -> None:
        for fd in self._read_fds.values():
            os.close(fd)
        self._read_fds.clear()
        if self._write_fd is not None:
            os.close(self._write_fd)
            self._write_fd = None

    def _fsync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    @staticmethod
    def _write_all(fd: int, data: bytes, offset: int) -> None:
        view = memoryview(data)
        while view:
            written = os.pwrite(fd, view, offset)
            view, offset = view[written:], offset + written

    # --- index -------------------------------------------------------------------------

    def _index_get(self, number: int) -> tuple[int, int]:
        entry = os.pread(self._index_fd, INDEX_ENTRY.size, number * INDEX_ENTRY.size)
        if len(entry) < INDEX_ENTRY.size:
            raise BlockStoreCorruption(number, self.directory / INDEX_NAME, number * INDEX_ENTRY.size, "index entry missing")
        file_no, offset = INDEX_ENTRY.unpack(entry)
        if file_no >= max(self._file_count, 1) or offset > RECORD_OFFSET_MAX:
            raise BlockStoreCorruption(number, self.directory / INDEX_NAME, number * INDEX_ENTRY.size, f"index entry points outside the data files (file {file_no}, offset {offset})")
        return file_no, offset

    def _index_put(self, number: int, file_no: int, offset: int) -> None:
        if self.read_only and not self._index_is_private:
            private = self._private_index(number, self._index_fd)
            os.close(self._index_fd)
            self._index_fd = private
        self._write_all(self._index_fd, INDEX_ENTRY.pack(file_no, offset), number * INDEX_ENTRY.size)

    def _index_entry_sound(self, number: int) -> bool:
        """Entry `number` points at a whole, CRC-correct record of block `number`."""
        try:
            file_no, offset = self._index_get(number)
        except BlockStoreCorruption:
            return False
        if file_no >= self._file_count or (number == 0 and (file_no, offset) != (0, 0)):
            return False
        with open(self._path(file_no), "rb") as data:
            data.seek(offset)
            header = data.read(RECORD_HEADER.size)
            try:
                length = _check_record(header, None, number)
                _check_record(header, data.read(length), number)
            except _Bad:
                return False
        return True

    # --- recovery on open --------------------------------------------------------------

    def _recover(self) -> tuple[int, int]:
        """Check the index against the data, catch it up by scanning the data files past its
        last entry, and cut a torn tail. Sets the height; returns the writer position."""
        index_bytes = os.fstat(self._index_fd).st_size
        entries = index_bytes // INDEX_ENTRY.size
        if self._height_max is not None and entries > self._height_max:
            entries = self._height_max
            index_bytes = -1  # keep a private copy of the first entries only
        sound = entries
        if entries and not (self._index_entry_sound(0) and self._index_entry_sound(entries - 1)):
            log.warning("blockstore.index_invalid", directory=str(self.directory), entries=entries)
            sound = 0
        elif entries:
            # Both ends are right; an entry in between may still be flipped. Walk the record
            # headers (no payloads: ~3 µs a block) and keep the entries before the first wrong
            # one; the scan below re-indexes the rest from the data files, CRC-checked.
            wrong = index_problem(self.directory, entries)
            if wrong is not None and wrong[0] < entries:
                log.warning("blockstore.index_entry_invalid", directory=str(self.directory), block=wrong[0], why=wrong[1])
                sound = wrong[0]
        if sound * INDEX_ENTRY.size != index_bytes:
            if self.read_only:
                private = self._private_index(sound, self._index_fd)
                os.close(self._index_fd)
                self._index_fd = private
            else:
                os.ftruncate(self._index_fd, sound * INDEX_ENTRY.size)
        file_no, offset, number = 0, 0, sound
        if sound:
            file_no, offset = self._index_get(sound - 1)
            with self._lock:
                header = os.pread(self._read_fd(file_no), RECORD_HEADER.size, offset)
            offset += RECORD_HEADER.size + RECORD_HEADER.unpack(header)[0]
        if self._file_count == 0:
            return 0, 0
        while True:
            number, offset = self._scan_file(file_no, offset, number)
            self._height = number
            if file_no == self._file_count - 1 or number == self._height_max:
                if number > sound:
                    log.info("blockstore.index_caught_up", directory=str(self.directory), blocks=number - sound)
                return file_no, offset
            file_no, offset = file_no + 1, 0

    def _scan_file(self, file_no: int, offset: int, number: int) -> tuple[int, int]:
        """Index the records of one data file from `offset`; returns (next block number, end offset).

        A bad record ends the scan as a torn tail only in the last file and only when it is
        the file's final record (or runs past it, or only zeros follow); else it is corruption.
        """
        path = self._path(file_no)
        size = path.stat().st_size
        with open(path, "rb", buffering=READ_BUFFER_BYTES) as data:
            data.seek(offset)
            while offset < size and number != self._height_max:
                header = data.read(RECORD_HEADER.size)
                try:
                    length = _check_record(header, None, number)
                    if offset + RECORD_HEADER.size + length > size:
                        raise _Bad("record runs past the end of the file", truncated=True)
                    _check_record(header, data.read(length), number)
                except _Bad as bad:
                    if file_no == self._file_count - 1 and is_torn_tail(path, offset, number):
                        self._cut_torn_tail(path, offset, size, bad.reason)
                        return number, offset
                    raise BlockStoreCorruption(number, path, offset, bad.reason) from None
                self._index_put(number, file_no, offset)
                number, offset = number + 1, offset + RECORD_HEADER.size + length
        return number, offset

    def _cut_torn_tail(self, path: Path, offset: int, size: int, reason: str) -> None:
        self.torn_tail = True
        log.warning(
            "blockstore.torn_tail",
            path=str(path),
            offset=offset,
            dropped_bytes=size - offset,
            reason=reason,
            action="ignored (read-only)" if self.read_only else "truncated",
        )
        if not self.read_only:
            with open(path, "r+b") as data:
                data.truncate(offset)
                os.fsync(data.fileno())

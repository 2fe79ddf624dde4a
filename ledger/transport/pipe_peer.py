"""The parent side of the pipe transport: a peer in its own OS process, seen as a `PeerService`.

`PipePeer` starts `python -m ledger.node.peer_process` and speaks `frames` to it: blocks
from the orderer go out through a sender thread (the orderer never waits for a slow peer),
calls (endorse, evaluate, block, history, verify) are answered by id, and commit events
update the height and commit hash that gateways read and feed the commit listeners.
"""

from __future__ import annotations

import itertools
import queue
import subprocess
import sys
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

import msgspec
import structlog

from ledger.commit.chain_report import ChainReport
from ledger.commit.listeners import CommitListeners
from ledger.core.codes import EndorserCode
from ledger.core.encoding import decode
from ledger.core.errors import LedgerError
from ledger.core.identity import SigningIdentity
from ledger.core.messages import CommitEvent, CommitListener, HistoryEntry
from ledger.execute.endorser import EndorserRefusal
from ledger.transport.frames import FrameReader, FrameWriter, LinkClosed, LinkTimeout

log = structlog.get_logger("pipe_peer")

START_TIMEOUT_S = 120.0  # a peer replays its blocks into its state before it is ready
CALL_TIMEOUT_S = 60.0  # a call's answer (endorse has the gateway's own, shorter limit)
SEND_TIMEOUT_S = 2.0  # writing a call into the pipe of a peer that stopped reading (hung)
VERIFY_TIMEOUT_S = 3600.0
STOP_TIMEOUT_S = 30.0
OUTBOX_BLOCKS_MAX = 2_000  # deliveries waiting for a slow peer's pipe; past it they are dropped
OUTBOX_PUT_WAIT_S = 1.0  # how long `stop` waits to queue its frames behind a full outbox


class PeerUnavailable(EndorserRefusal):
    """The peer's process is not running (it stopped or crashed), or did not answer in time."""

    def __init__(self, name: str, why: str) -> None:
        super().__init__(EndorserCode.PEER_UNAVAILABLE, f"peer {name} is not available: {why}")


class PipePeer:
    def __init__(self, name: str, identity: SigningIdentity, data_dir: Path, state_url: str) -> None:
        self.name = name
        self.identity = identity.identity
        self.org = self.identity.org
        self.data_dir = data_dir
        self.state_url = state_url
        self._height = 0
        self._commit_hash = b""
        self._listeners = CommitListeners(name, log)
        self._pending: dict[int, Future[Any]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._outbox: queue.Queue[list[Any] | None] = queue.Queue(OUTBOX_BLOCKS_MAX)
        self._lagging = threading.Event()  # deliveries were dropped: the peer must catch up
        self._ready: Future[None] = Future()
        self._process: subprocess.Popen[bytes] | None = None
        self._exit_code: int | None = None
        self._gone: str | None = None
        self._receiver: threading.Thread | None = None
        self._writer: FrameWriter | None = None

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Start the peer's process; returns at once (see `wait_ready`). The process reads the
        genesis block and the orderer's block files from the data directory itself."""
        self._process = subprocess.Popen(
            [sys.executable, "-m", "ledger.node.peer_process", str(self.data_dir), self.name, self.state_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
        )
        assert self._process.stdin is not None and self._process.stdout is not None
        writer = self._writer = FrameWriter(self._process.stdin.fileno(), bounded=True)
        reader = FrameReader(self._process.stdout.fileno())
        threading.Thread(target=self._send_loop, args=(writer,), name=f"to-{self.name}", daemon=True).start()
        self._receiver = threading.Thread(target=self._receive_loop, args=(reader,), name=f"from-{self.name}", daemon=True)
        self._receiver.start()

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Wait for the process to be serving; a LedgerError it refused to start with (e.g.
        STORAGE_CORRUPT) is raised here with its code."""
        try:
            self._ready.result(timeout_s)
        except FutureTimeout:
            raise RuntimeError(f"peer {self.name} did not start within {timeout_s} s") from None

    def stop(self) -> None:
        process = self._process
        if process is None:
            return
        self._post(["stop"])
        self._post(None)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            log.error("peer_stop_timeout", peer=self.name)
            process.kill()
            process.wait()
        if self._receiver is not None:
            self._receiver.join(STOP_TIMEOUT_S)
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()
        self._exit_code = process.returncode
        self._process = None

    @property
    def exit_code(self) -> int | None:
        """The peer process's exit status once it ended (None while it runs): a peer whose
        commit loop failed exits non-zero."""
        if self._process is not None:
            return self._process.poll()
        return self._exit_code

    @property
    def alive(self) -> bool:
        return self._gone is None and self._process is not None

    @property
    def pid(self) -> int | None:
        """The peer process's id while it runs (for status and for fault-injection tests)."""
        return self._process.pid if self._process is not None and self._gone is None else None

    def wait_gone(self, timeout_s: float) -> bool:
        """Wait until the link has noticed that the peer's process ended; True if it has."""
        receiver = self._receiver
        if receiver is not None:
            receiver.join(timeout_s)
        return self._gone is not None

    # --- what a Peer offers -------------------------------------------------------------

    def deliver(self, number: int, block_bytes: bytes) -> None:
        """Forward a new block (never blocks: the sender thread writes it). Behind a peer
        that does not read (hung, or far too slow) the outbox fills: the block is dropped and
        the peer is told to catch up from the orderer once its outbox drains."""
        if self._gone is not None:
            return
        try:
            self._outbox.put_nowait(["deliver", block_bytes])
        except queue.Full:
            if not self._lagging.is_set():
                self._lagging.set()
                log.warning("deliver_dropped", peer=self.name, number=number, queued=OUTBOX_BLOCKS_MAX, action="peer catches up later")

    def add_commit_listener(self, listener: CommitListener) -> None:
        self._listeners.add(listener)

    @property
    def height(self) -> int:
        return self._height

    @property
    def status(self) -> tuple[int, bytes]:
        with self._lock:
            return self._height, self._commit_hash

    @property
    def commit_hash(self) -> bytes:
        return self._commit_hash

    def endorse(self, signed_proposal: bytes) -> "Future[bytes]":
        """Send the proposal now; the future resolves when the peer answers (gateways ask
        every endorser at once)."""
        return self._send_call("endorse", (signed_proposal,))[1]

    def evaluate(self, signed_proposal: bytes) -> bytes:
        answer: bytes = self._call("evaluate", signed_proposal)
        return answer

    def block(self, number: int) -> bytes:
        answer: bytes = self._call("block", number)
        return answer

    def tx_location(self, tx_id: str) -> tuple[int, int, int] | None:
        found = self._call("tx_location", tx_id)
        return None if found is None else (found[0], found[1], found[2])

    def history(self, key: str) -> list[HistoryEntry]:
        return [decode(row, HistoryEntry) for row in self._call("history", key)]

    def state_digest(self) -> bytes:
        answer: bytes = self._call("state_digest", timeout_s=VERIFY_TIMEOUT_S)
        return answer

    def verify_chain(self) -> ChainReport:
        return msgspec.msgpack.decode(self._call("verify", timeout_s=VERIFY_TIMEOUT_S), type=ChainReport)

    # --- the link -----------------------------------------------------------------------

    def _call(self, method: str, *args: Any, timeout_s: float = CALL_TIMEOUT_S) -> Any:
        call_id, future = self._send_call(method, args)
        try:
            return future.result(timeout_s)
        except FutureTimeout:
            with self._lock:
                self._pending.pop(call_id, None)
            raise PeerUnavailable(self.name, f"no answer to {method} within {timeout_s} s") from None

    def _send_call(self, method: str, args: tuple[Any, ...]) -> "tuple[int, Future[Any]]":
        if self._gone is not None:
            raise PeerUnavailable(self.name, self._gone)
        call_id = next(self._ids)
        future: Future[Any] = Future()
        with self._lock:
            self._pending[call_id] = future
        gone = self._gone_reason()  # read again: it went away meanwhile, and its failing of pending calls may have missed this one
        if gone is not None:
            with self._lock:
                self._pending.pop(call_id, None)
            raise PeerUnavailable(self.name, gone)
        assert self._writer is not None, "call before start"
        try:  # written by the calling thread (frames stay whole: the writer has a lock)
            self._writer.send(["call", call_id, method, list(args)], timeout_s=SEND_TIMEOUT_S)
        except LinkTimeout:
            with self._lock:
                self._pending.pop(call_id, None)
            raise PeerUnavailable(self.name, f"it took no call for {SEND_TIMEOUT_S} s (hung?)") from None
        except LinkClosed as exc:
            with self._lock:
                self._pending.pop(call_id, None)
            self._break_link(str(exc))
            raise PeerUnavailable(self.name, "its pipe is closed") from None
        return call_id, future

    def _break_link(self, why: str) -> None:
        """A frame was left half written: the stream cannot be resumed, so the process goes
        (the receive loop then reports it gone)."""
        process = self._process
        if process is not None and process.poll() is None and self._writer is not None and self._writer.broken:
            log.error("peer_link_broken", peer=self.name, reason=why, action="killed")
            process.kill()

    def _gone_reason(self) -> str | None:
        return self._gone

    def _post(self, message: list[Any] | None) -> None:
        """Queue a control frame; behind a full outbox (a hung peer) give up after a limit."""
        try:
            self._outbox.put(message, timeout=OUTBOX_PUT_WAIT_S)
        except queue.Full:
            log.warning("outbox_full", peer=self.name, frame=None if message is None else message[0])

    def _send_loop(self, writer: FrameWriter) -> None:
        while True:
            message = self._outbox.get()
            if message is None:
                return
            try:
                writer.send(message)
                if self._lagging.is_set() and self._outbox.empty():
                    self._lagging.clear()
                    writer.send(["catch_up"])
            except LinkClosed:
                return  # the receive loop reports the peer gone

    def _receive_loop(self, reader: FrameReader) -> None:
        try:
            while True:
                message = reader.receive()
                kind = message[0]
                if kind == "commit":
                    self._on_commit(decode(message[1], CommitEvent))
                elif kind == "reply":
                    with self._lock:
                        future = self._pending.pop(message[1], None)
                    if future is not None:
                        if message[2]:
                            future.set_result(message[3])
                        else:
                            future.set_exception(EndorserRefusal(*message[3]))
                elif kind == "ready":
                    with self._lock:
                        self._height, self._commit_hash = message[1], message[2]
                    self._ready.set_result(None)
                elif kind == "refused" and not self._ready.done():  # it will not start: why, with its code
                    self._ready.set_exception(LedgerError(message[1], message[2]))
        except LinkClosed as exc:
            self._went_away(str(exc))

    def _went_away(self, why: str) -> None:
        code = self._process.poll() if self._process is not None else None
        self._gone = f"its process ended ({why}, exit code {code})"
        if not self._ready.done():
            self._ready.set_exception(RuntimeError(f"peer {self.name} failed to start: {self._gone}"))
        with self._lock:
            pending = list(self._pending.values())
        for future in pending:
            if not future.done():
                future.set_exception(PeerUnavailable(self.name, self._gone))
        try:
            self._outbox.put_nowait(None)
        except queue.Full:
            self._drain_outbox()

    def _drain_outbox(self) -> None:
        """Empty a full outbox of a gone peer and end its sender thread."""
        while True:
            try:
                self._outbox.get_nowait()
            except queue.Empty:
                break
        self._outbox.put_nowait(None)

    def _on_commit(self, event: CommitEvent) -> None:
        with self._lock:
            self._height, self._commit_hash = event.number + 1, event.commit_hash
        self._listeners.notify(event)

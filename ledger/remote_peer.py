"""A peer that runs in its own OS process, seen from the embedded network as a `Peer`.

`RemotePeer` starts `python -m ledger.peer_node` and speaks `peer_link` frames to it: blocks
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
from typing import TYPE_CHECKING, Any, Callable, Iterator

import structlog

from ledger.chaincode_api import HistoryEntry
from ledger.channel import Channel
from ledger.committer import CommitOutcome
from ledger.encoding import decode, encode
from ledger.endorser import EndorserRefusal
from ledger.identity import SigningIdentity
from ledger.messages import Block, ProposalResponse, ResponsePayload, SignedProposal, ValidationCode
from ledger.peer_link import FrameReader, FrameWriter, LinkClosed

if TYPE_CHECKING:
    from ledger.verify import ChainReport

log = structlog.get_logger("remote_peer")

START_TIMEOUT_S = 120.0  # a peer replays its blocks into its state before it is ready
CALL_TIMEOUT_S = 60.0
VERIFY_TIMEOUT_S = 3600.0
STOP_TIMEOUT_S = 30.0
CommitListener = Callable[[CommitOutcome], None]


class PeerUnavailable(EndorserRefusal):
    """The peer's process is not running (it stopped or crashed)."""

    def __init__(self, name: str, why: str) -> None:
        super().__init__("PEER_UNAVAILABLE", f"peer {name} is not available: {why}")


class RemotePeer:
    def __init__(self, name: str, identity: SigningIdentity, channel: Channel, directory: Path, data_dir: Path, state_url: str) -> None:
        self.name = name
        self.identity = identity
        self.org = identity.identity.org
        self.channel = channel
        self.directory = directory
        self.data_dir = data_dir
        self.state_url = state_url
        self._height = 0
        self._commit_hash = b""
        self._listeners: list[CommitListener] = []
        self._pending: dict[int, tuple[Future[Any], type | None]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._outbox: queue.SimpleQueue[list[Any] | None] = queue.SimpleQueue()
        self._ready: Future[None] = Future()
        self._process: subprocess.Popen[bytes] | None = None
        self._gone: str | None = None
        self._receiver: threading.Thread | None = None
        self._writer: FrameWriter | None = None

    # --- lifecycle ----------------------------------------------------------------------

    def start(self, genesis: Block, blocks_from: Callable[[int], Iterator[Block]]) -> None:
        """Start the peer's process; returns at once (see `wait_ready`)."""
        del genesis, blocks_from  # the process reads both from the data directory itself
        self._process = subprocess.Popen(
            [sys.executable, "-m", "ledger.peer_node", str(self.data_dir), self.name, self.state_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
        )
        assert self._process.stdin is not None and self._process.stdout is not None
        writer = self._writer = FrameWriter(self._process.stdin.fileno())
        reader = FrameReader(self._process.stdout.fileno())
        threading.Thread(target=self._send_loop, args=(writer,), name=f"to-{self.name}", daemon=True).start()
        self._receiver = threading.Thread(target=self._receive_loop, args=(reader,), name=f"from-{self.name}", daemon=True)
        self._receiver.start()

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> None:
        try:
            self._ready.result(timeout_s)
        except FutureTimeout:
            raise RuntimeError(f"peer {self.name} did not start within {timeout_s} s") from None

    def stop(self) -> None:
        process = self._process
        if process is None:
            return
        self._outbox.put(["stop"])
        self._outbox.put(None)
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
        self._process = None

    @property
    def alive(self) -> bool:
        return self._gone is None and self._process is not None

    # --- what a Peer offers -------------------------------------------------------------

    def deliver(self, block: Block, block_bytes: bytes = b"") -> None:
        """Forward a new block; the orderer's own encoding is reused when given."""
        if self._gone is None:
            self._outbox.put(["deliver", block_bytes or encode(block)])

    def add_commit_listener(self, listener: CommitListener) -> None:
        with self._lock:
            self._listeners.append(listener)

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

    def endorse(self, signed: SignedProposal) -> ProposalResponse:
        return self.endorse_async(signed).result()

    def endorse_async(self, signed: SignedProposal) -> "Future[ProposalResponse]":
        """Send the proposal now; the future resolves when the peer answers (gateways ask
        every endorser at once)."""
        return self._call_async("endorse", encode(signed), reply_type=ProposalResponse)

    def evaluate(self, signed: SignedProposal) -> ResponsePayload:
        return self._call("evaluate", encode(signed), reply_type=ResponsePayload)

    def block(self, number: int) -> Block:
        return self._call("block", number, reply_type=Block)

    def blocks(self, start: int = 0) -> Iterator[Block]:
        number = start
        while number < self._height:
            yield self.block(number)
            number += 1

    def tx_location(self, tx_id: str) -> tuple[int, int, int] | None:
        found = self._call("tx_location", tx_id)
        return None if found is None else (found[0], found[1], found[2])

    def history(self, key: str) -> list[HistoryEntry]:
        return [HistoryEntry(*row) for row in self._call("history", key)]

    def state_digest(self) -> bytes:
        return self._call("state_digest", timeout_s=VERIFY_TIMEOUT_S)

    def verify_own_chain(self, genesis: Block) -> "ChainReport":
        from ledger.verify import ChainReport

        node, height, commit, problems = self._call("verify", timeout_s=VERIFY_TIMEOUT_S)
        return ChainReport(node, height, commit, list(problems))

    # --- the link -----------------------------------------------------------------------

    def _call(self, method: str, *args: Any, timeout_s: float = CALL_TIMEOUT_S, reply_type: type | None = None) -> Any:
        call_id, future = self._send_call(method, args, reply_type)
        try:
            return future.result(timeout_s)
        except FutureTimeout:
            with self._lock:
                self._pending.pop(call_id, None)
            raise PeerUnavailable(self.name, f"no answer to {method} within {timeout_s} s") from None

    def _call_async(self, method: str, *args: Any, reply_type: type | None = None) -> "Future[Any]":
        """The answer's future; with `reply_type` the answer (a record's bytes) is decoded into it."""
        return self._send_call(method, args, reply_type)[1]

    def _send_call(self, method: str, args: tuple[Any, ...], reply_type: type | None) -> "tuple[int, Future[Any]]":
        if self._gone is not None:
            raise PeerUnavailable(self.name, self._gone)
        call_id = next(self._ids)
        future: Future[Any] = Future()
        with self._lock:
            self._pending[call_id] = (future, reply_type)
        if self._gone is not None:  # went away meanwhile: its failing of pending calls may have missed this one
            with self._lock:
                self._pending.pop(call_id, None)
            raise PeerUnavailable(self.name, self._gone)
        assert self._writer is not None, "call before start"
        try:  # written by the calling thread (frames stay whole: the writer has a lock)
            self._writer.send(["call", call_id, method, list(args)])
        except LinkClosed:
            with self._lock:
                self._pending.pop(call_id, None)
            raise PeerUnavailable(self.name, "its pipe is closed") from None
        return call_id, future

    def _send_loop(self, writer: FrameWriter) -> None:
        while True:
            message = self._outbox.get()
            if message is None:
                return
            try:
                writer.send(message)
            except LinkClosed:
                return  # the receive loop reports the peer gone

    def _receive_loop(self, reader: FrameReader) -> None:
        try:
            while True:
                message = reader.receive()
                kind = message[0]
                if kind == "commit":
                    self._on_commit(message[1], message[2], message[3], message[4])
                elif kind == "reply":
                    with self._lock:
                        waiting = self._pending.pop(message[1], None)
                    if waiting is not None:
                        future, reply_type = waiting
                        if not message[2]:
                            future.set_exception(EndorserRefusal(*message[3]))
                        elif reply_type is None:
                            future.set_result(message[3])
                        else:
                            try:
                                future.set_result(decode(message[3], reply_type))
                            except Exception as exc:  # an undecodable answer fails that call only
                                future.set_exception(PeerUnavailable(self.name, f"its answer cannot be decoded: {exc}"))
                elif kind == "ready":
                    with self._lock:
                        self._height, self._commit_hash = message[1], message[2]
                    self._ready.set_result(None)
        except LinkClosed as exc:
            self._went_away(str(exc))

    def _went_away(self, why: str) -> None:
        code = self._process.poll() if self._process is not None else None
        self._gone = f"its process ended ({why}, exit code {code})"
        if not self._ready.done():
            self._ready.set_exception(RuntimeError(f"peer {self.name} failed to start: {self._gone}"))
        with self._lock:
            pending = [future for future, _ in self._pending.values()]
        for future in pending:
            if not future.done():
                future.set_exception(PeerUnavailable(self.name, self._gone))
        self._outbox.put(None)

    def _on_commit(self, number: int, tx_ids: list[str], codes: bytes, commit_hash: bytes) -> None:
        with self._lock:
            self._height, self._commit_hash = number + 1, commit_hash
            listeners = list(self._listeners)
        if not listeners:
            return
        outcome = CommitOutcome(number, tx_ids, [ValidationCode(c) for c in codes], commit_hash)
        for listener in listeners:
            try:
                listener(outcome)
            except Exception as exc:  # a listener must never stop the link
                log.error("commit_listener_failed", peer=self.name, error=repr(exc))

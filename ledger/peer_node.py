"""One peer in its own OS process: `python -m ledger.peer_node DATA_DIR PEER_NAME STATE_URL`.

The embedded network starts one of these per peer when it runs in several processes, so
that validation, commits and endorsements of different peers use different cores (one
Python process is held to one core by its interpreter lock). The peer is the same `Peer`
as in one process; this module only serves it over the pipe of `peer_link`: blocks in,
commit events and call replies out. It catches up from the orderer's block files, which it
reads without writing. One thread reads the pipe and does the work in arrival order (a
block is committed between two endorsements), so the process never hands its interpreter
lock back and forth; only slow calls (verify, state digest, history) run on threads.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator

import structlog

from ledger.blockstore import BlockStore
from ledger.channel import Channel
from ledger.committer import CommitOutcome
from ledger.config import genesis_config, load_genesis, load_identity
from ledger.encoding import decode, encode
from ledger.endorser import EndorserRefusal
from ledger.logs import configure_logging
from ledger.messages import Block, SignedProposal
from ledger.peer import Peer
from ledger.peer_link import FrameReader, FrameWriter, LinkClosed

log = structlog.get_logger("peer_node")

CALL_THREADS = 2  # slow calls (verify, state digest, history) run beside the link
SLOW_CALLS = frozenset({"verify", "state_digest", "history"})  # the rest are answered in the read loop


def _orderer_blocks(data_dir: Path, orderer_name: str) -> Callable[[int], Iterator[Block]]:
    """Catch-up source: the orderer's block files, opened read-only anew for each catch-up."""

    def blocks_from(number: int) -> Iterator[Block]:
        store = BlockStore(data_dir / "orderer" / orderer_name / "blocks", read_only=True)
        try:
            for _, data in store.iter_blocks(number):
                yield decode(data, Block)
        finally:
            store.close()

    return blocks_from


class PeerNode:
    """Serves one `Peer` over a pair of file descriptors."""

    def __init__(self, peer: Peer, reader: FrameReader, writer: FrameWriter, genesis: Block) -> None:
        self.peer = peer
        self.reader = reader
        self.writer = writer
        self.genesis = genesis
        self._calls = ThreadPoolExecutor(CALL_THREADS, thread_name_prefix="peer-call")
        self._methods: dict[str, Callable[..., Any]] = {
            "endorse": lambda signed: encode(peer.endorse(decode(signed, SignedProposal))),
            "evaluate": lambda signed: encode(peer.evaluate(decode(signed, SignedProposal))),
            "block": lambda number: peer.store.get(number),
            "tx_location": lambda tx_id: peer.tx_location(tx_id),
            "history": lambda key: [[e.block, e.tx_num, e.tx_id, e.timestamp_ms, e.value, e.is_delete] for e in peer.history(key)],
            "state_digest": peer.state_digest,
            "verify": self._verify,
        }

    def _verify(self) -> list[Any]:
        report = self.peer.verify_own_chain(self.genesis)
        return [report.node, report.height, report.commit_hash, report.problems]

    def _on_commit(self, outcome: CommitOutcome) -> None:
        try:
            self.writer.send(["commit", outcome.number, outcome.tx_ids, bytes(outcome.codes), outcome.commit_hash])
        except LinkClosed:
            pass  # the network is gone; the read loop ends too

    def _call(self, call_id: int, method: str, args: list[Any]) -> None:
        try:
            value = self._methods[method](*args)
            reply = ["reply", call_id, True, value]
        except EndorserRefusal as exc:
            reply = ["reply", call_id, False, [exc.code, exc.message]]
        except Exception as exc:  # any other failure goes back to the caller, typed
            log.error("peer_call_failed", peer=self.peer.name, method=method, error=repr(exc))
            reply = ["reply", call_id, False, ["PEER_ERROR", f"{method} failed on {self.peer.name}: {exc!r}"]]
        try:
            self.writer.send(reply)
        except LinkClosed:
            pass

    def serve(self) -> None:
        self.peer.add_commit_listener(self._on_commit)
        height, commit = self.peer.status
        self.writer.send(["ready", height, commit])
        try:
            while True:
                message = self.reader.receive()
                kind = message[0]
                if kind == "deliver":
                    # committed here, between calls: one thread, so no interpreter-lock handoffs
                    self.peer.receive(decode(message[1], Block))
                elif kind == "call":
                    if message[2] in SLOW_CALLS:
                        self._calls.submit(self._call, message[1], message[2], message[3])
                    else:  # a thread handoff costs more than an endorsement's wait
                        self._call(message[1], message[2], message[3])
                elif kind == "stop":
                    return
        except LinkClosed:
            log.warning("network_link_closed", peer=self.peer.name)
        finally:
            self._calls.shutdown(wait=True)


def main(argv: list[str]) -> int:
    data_dir, peer_name, state_url = Path(argv[0]), argv[1], argv[2]
    # Ctrl-C reaches the whole process group: the network stops its peers in order (each
    # finishes the block it is committing), so a peer ignores the interrupt itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The protocol owns the original stdout; anything printed goes to stderr with the logs.
    protocol_out = os.dup(1)
    os.dup2(2, 1)
    configure_logging()
    genesis = load_genesis(data_dir)
    config = genesis_config(genesis)
    node_name, _, org = peer_name.partition(".")
    orderer = next(n for n in config.nodes if n.role == "orderer")
    peer = Peer(peer_name, load_identity(data_dir, org, node_name), Channel(config), data_dir / "peers" / peer_name, state_url)
    peer.start(genesis, _orderer_blocks(data_dir, orderer.name), commit_thread=False)
    node = PeerNode(peer, FrameReader(0), FrameWriter(protocol_out), genesis)
    try:
        node.serve()
    finally:
        peer.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

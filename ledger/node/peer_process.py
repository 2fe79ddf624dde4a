"""One peer in its own OS process: `python -m ledger.node.peer_process DATA_DIR NODE_ID STATE_URL`.

The embedded network starts one of these per peer when it runs in several processes, so
that validation, commits and endorsements of different peers use different cores (one
Python process is held to one core by its interpreter lock). The peer is the same `Peer`
as in one process, served over the pipe transport (`ledger.peer.pipe_server`). It
catches up from the orderer's block files, which it reads without writing.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import structlog

from ledger.core.channel import Channel
from ledger.core.channel_config import genesis_config
from ledger.core.errors import LedgerError, NodeFailed
from ledger.node.layout import NetworkLayout
from ledger.node.logs import configure_logging
from ledger.node.material import load_genesis, load_node_identity
from ledger.peer.peer import BlockSource, Peer
from ledger.peer.pipe_server import PipeServer
from ledger.storage.blockstore import BlockStore
from ledger.transport.frames import FrameReader, FrameWriter

log = structlog.get_logger("peer_process")

EXIT_NODE_FAILED = 3  # the peer's commit loop failed: the process ends, loudly, with this code
EXIT_REFUSED = 4  # the peer refused to start (damaged storage, bad configuration): told to the parent first


def orderer_blocks(blocks_dir: Path) -> BlockSource:
    """Catch-up source: the orderer's block files, opened read-only anew for each catch-up."""

    def blocks_from(number: int) -> Iterator[bytes]:
        store = BlockStore(blocks_dir, read_only=True)
        try:
            for _, data in store.iter_blocks(number):
                yield data
        finally:
            store.close()

    return blocks_from


def main(argv: list[str]) -> int:
    data_dir, node_id, state_url = Path(argv[0]), argv[1], argv[2]
    # Ctrl-C reaches the whole process group: the network stops its peers in order (each
    # finishes the block it is committing), so a peer ignores the interrupt itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The protocol owns the original stdout; anything printed goes to stderr with the logs.
    protocol_out = os.dup(1)
    os.dup2(2, 1)
    configure_logging()
    layout = NetworkLayout(data_dir)
    genesis = load_genesis(layout)
    config = genesis_config(genesis)
    try:
        peer = Peer(node_id, load_node_identity(layout, node_id), Channel(config), layout.node_dir(node_id), state_url)
        peer.start(genesis, orderer_blocks(layout.blocks_dir(config.orderers[0].node_id)), commit_thread=False)
    except LedgerError as exc:  # e.g. STORAGE_CORRUPT: the parent raises it with its code, not "process ended"
        log.error("peer_refused_to_start", peer=node_id, code=exc.code, message=exc.message, exit_code=EXIT_REFUSED)
        FrameWriter(protocol_out).send(["refused", exc.code, exc.message])
        return EXIT_REFUSED
    server = PipeServer(peer, FrameReader(0), FrameWriter(protocol_out))
    try:
        server.serve()
    except NodeFailed as exc:  # logged where it failed; the parent sees the link close
        log.error("peer_process_exit", peer=node_id, code=exc.code, message=exc.message, exit_code=EXIT_NODE_FAILED)
        return EXIT_NODE_FAILED
    finally:
        peer.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

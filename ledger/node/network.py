"""The embedded network: the ordering service and every peer of the channel on this machine.

`Network.open(data_dir)` reads what `gridledger init` wrote (network file, key material,
genesis block), starts the solo orderer and the peers (each with its own block files and
state database, each recovering and catching up), and hands out gateways for client
identities. Peers run in this process or each in a child process of its own; either way the
network holds them only through the transport protocols.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.core.channel import Channel
from ledger.core.channel_config import ChannelConfig, genesis_config
from ledger.core.errors import ConfigError, LedgerError, StorageCorruption
from ledger.core.identity import SigningIdentity
from ledger.core.messages import Block
from ledger.gateway import CommitWaiter, Gateway, Suspects
from ledger.node.layout import NetworkLayout
from ledger.node.logs import configure_logging
from ledger.node.material import load_admin, load_ca, load_genesis, load_node_identity
from ledger.node.netnetwork import cli_options, connect_networked, is_networked
from ledger.node.nodelock import try_lock
from ledger.node.orphans import end_orphans, remove_pid_file, write_pid_file
from ledger.node.spec import NetworkSpec, load_spec
from ledger.node.stopsignals import stop_signals_deferred
from ledger.order.solo import SoloOrderer
from ledger.peer.peer import Peer
from ledger.storage.blockstore import BlockStore
from ledger.transport.nats_client import NatsUnavailable, refused_everywhere
from ledger.transport.pipe_peer import PipePeer
from ledger.transport.protocols import OrderingNode, PeerService

NETWORK_HEIGHT_WAIT_S = 30.0
NETWORK_HEIGHT_POLL_S = 0.01


class NetworkBusy(LedgerError):
    """Another process runs this network (two writers would corrupt the nodes' files)."""

    def __init__(self, message: str) -> None:
        super().__init__("NETWORK_BUSY", message)


def _lock_data_dir(layout: NetworkLayout) -> int:
    layout.run_dir.mkdir(parents=True, exist_ok=True)
    fd = try_lock(layout.lock_file)
    if fd is None:
        holder = layout.lock_file.read_text(errors="replace").strip()[:32] or "?"
        raise NetworkBusy(f"the network in {layout.root} is running in another process (pid {holder}); stop it or use its console/API")
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


def stored_blocks(blocks_dir: Path) -> Callable[[int], Iterator[bytes]]:
    """A peer's block files read in place (before the peers start): what the orderer repairs
    damaged blocks from."""

    def blocks_from(number: int) -> Iterator[bytes]:
        with BlockStore(blocks_dir, read_only=True) as store:
            for _, data in store.iter_blocks(number):
                yield data

    return blocks_from


class PeerDamaged(StorageCorruption):
    """A peer's stored data is damaged: it refuses to start, and the message names the repair."""

    def __init__(self, layout: NetworkLayout, peer: str, why: str) -> None:
        super().__init__(
            f"{peer} refuses to start: {why}; with the network stopped, run `gridledger repair --data {layout.root} --peer {peer}` "
            "to restore its blocks from verified copies (the orderer's, the other peers') and rebuild its state"
        )
        self.peer = peer


@contextlib.contextmanager
def _repair_hint(layout: NetworkLayout, peer: str) -> Iterator[None]:
    """A STORAGE_CORRUPT refusal of `peer` (in this process or its own) as PeerDamaged."""
    try:
        yield
    except LedgerError as exc:
        if exc.code != "STORAGE_CORRUPT" or isinstance(exc, PeerDamaged):
            raise
        raise PeerDamaged(layout, peer, exc.message) from None


@contextlib.contextmanager
def idle_lock(data_dir: Path) -> Iterator[None]:
    """Hold the network's lock while an offline tool (verify) reads its files, so no network
    starts under it; NetworkBusy when one runs (the console verifies a live one itself)."""
    fd = _lock_data_dir(NetworkLayout(Path(data_dir)))
    try:
        yield
    finally:
        os.close(fd)


def ensure_idle(data_dir: Path) -> None:
    """Raise NetworkBusy when another process runs the network in `data_dir`: checked before a
    console server starts, so a second `up` stops with the code instead of inside the server."""
    os.close(_lock_data_dir(NetworkLayout(Path(data_dir))))


@dataclass(frozen=True, slots=True)
class PeerStatus:
    name: str
    org: str
    height: int
    commit_hash: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "org": self.org, "height": self.height, "commit_hash": self.commit_hash}


class Network:
    def __init__(
        self,
        layout: NetworkLayout,
        spec: NetworkSpec,
        genesis: Block,
        orderer: OrderingNode,
        peers: list[PeerService],
        *,
        peer_processes: bool,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        """`on_close` releases what reaches remote nodes (the networked mode's NATS link)."""
        self.layout = layout
        self.data_dir = layout.root
        self.spec = spec
        self.genesis = genesis
        self.config: ChannelConfig = genesis_config(genesis)
        self.channel_view = Channel(self.config)
        self.orderer = orderer
        self.peers = peers
        self.peer_processes = peer_processes
        self._waiters: dict[str, CommitWaiter] = {}
        self.suspects = Suspects()  # peers that did not answer an endorsement, for every gateway
        self._lock_fd: int | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._on_close = on_close

    @classmethod
    def open(
        cls,
        data_dir: Path,
        *,
        state_url_template: str | None = None,
        peer_processes: bool = False,
        networked: bool | None = None,
        nats_options: dict[str, Any] | None = None,
        nats_starting: bool = False,
    ) -> "Network":
        """Start the network in `data_dir`; with `peer_processes` every peer runs in its own
        OS process (see `ledger.transport.pipe_peer`), otherwise everything runs in this process.
        A networked layout (`init --networked`; `networked` None = detect it) is not started
        here: its nodes run on their own and this network reaches them over NATS (with
        `nats_options`, or the console organization's CLI client credentials: then, unless
        the caller has just started the NATS servers (`nats_starting`, the bench), a cluster of
        which no server listens is NATS_UNAVAILABLE at once)."""
        configure_logging()
        layout = NetworkLayout(Path(data_dir))
        genesis = load_genesis(layout)
        if is_networked(layout) if networked is None else networked:  # nodes run on their own: nothing to lock
            if nats_options is None:  # a short command (the CLI): a stopped consortium is said at once, not waited for
                nats_options = cli_options(layout)
                if not nats_starting and refused_everywhere(list(nats_options["servers"])):
                    raise NatsUnavailable(
                        f"no NATS server listens at {', '.join(nats_options['servers'])}: is the consortium running? "
                        "Start it with `gridledger up --data DIR --networked` (or `gridledger node run` of its NATS servers and nodes)"
                    )
            remote = connect_networked(genesis, nats_options)
            spec = load_spec(layout.network_file)
            return cls(layout, spec, genesis, remote.orderer, remote.peers, peer_processes=False, on_close=remote.close)
        if not any(layout.orgs_dir.glob("*/nodes/*")):  # else: "node orderer0.OrdererOrg has no identity at ..."
            raise ConfigError(
                f"{layout.root} holds an embedded network without its nodes' directories (orgs/<Org>/nodes/): "
                "an embedded network runs from the whole directory `init` made; restore them from a backup",
                code="NO_NODES",
            )
        lock_fd = _lock_data_dir(layout)
        try:
            end_orphans(layout)  # children of a killed run would still hold their block stores
            network = cls._assemble(layout, genesis, state_url_template, peer_processes)
        except BaseException:
            os.close(lock_fd)
            raise
        network._lock_fd = lock_fd
        return network

    @classmethod
    def _assemble(cls, layout: NetworkLayout, genesis: Block, state_url_template: str | None, peer_processes: bool) -> "Network":
        spec = load_spec(layout.network_file)
        config = genesis_config(genesis)
        orderer_node = config.orderers[0].node_id  # the embedded ordering service is solo
        copies = [stored_blocks(layout.blocks_dir(node.node_id)) for node in config.peers]
        orderer = SoloOrderer(load_node_identity(layout, orderer_node), Channel(config), layout.node_dir(orderer_node), genesis, copies=copies)
        peers: list[PeerService] = []
        pipe_peers: list[PipePeer] = []
        try:
            for node in config.peers:
                name = node.node_id
                url = layout.state_url(state_url_template or spec.storage.state, name)
                identity = load_node_identity(layout, name)
                if peer_processes:
                    pipe_peer = PipePeer(name, identity, layout.root.resolve(), url)  # absolute: orphans are recognised by it
                    orderer.subscribe(pipe_peer.deliver)
                    with stop_signals_deferred():  # a stop request lands once it is registered for the clean-up below
                        pipe_peer.start()
                        if pipe_peer.pid is not None:
                            write_pid_file(layout, name, pipe_peer.pid)
                        pipe_peers.append(pipe_peer)
                        peers.append(pipe_peer)
                else:
                    with _repair_hint(layout, name):
                        peer = Peer(name, identity, Channel(config), layout.node_dir(name), url)
                        orderer.subscribe(peer.deliver)
                        peer.start(genesis, orderer.blocks_from)
                    peers.append(peer)
            for pipe_peer in pipe_peers:
                with _repair_hint(layout, pipe_peer.name):
                    pipe_peer.wait_ready()
        except BaseException:
            for started in peers:
                started.stop()
                remove_pid_file(layout, started.name)
            orderer.stop()
            raise
        orderer.start()
        return cls(layout, spec, genesis, orderer, peers, peer_processes=peer_processes)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.orderer.stop()
        for peer in self.peers:
            peer.stop()
            if self.peer_processes:
                remove_pid_file(self.layout, peer.name)
        if self._on_close is not None:
            self._on_close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> "Network":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- who is who -----------------------------------------------------------------------

    @property
    def channel(self) -> str:
        return self.config.channel

    @property
    def chaincode_name(self) -> str:
        return self.config.chaincodes[0].name

    @property
    def approver_org(self) -> str:
        return self.spec.approver_org

    @property
    def console_org(self) -> str:
        return self.spec.console.org

    def enroll(self, org: str, name: str, role: str = "client", attributes: dict[str, str] | None = None) -> SigningIdentity:
        """Issue a new identity with `org`'s certificate authority."""
        return load_ca(self.layout, org).issue(name, role, attributes)

    def service_identity(self, org: str) -> SigningIdentity:
        """The org's ledger-held administrator (the CLI's approver, auto-approval rules)."""
        return load_admin(self.layout, org)

    def client_identity(self, org: str, name: str) -> SigningIdentity:
        """A CLI user's identity under orgs/<org>/users/, created on first use."""
        path = self.layout.user_file(org, name)
        if path.exists():
            return SigningIdentity.load(path)
        identity = self.enroll(org, name)
        identity.save(path)
        return identity

    # --- clients ------------------------------------------------------------------------

    def gateway(self, identity: SigningIdentity, *, commit_peer: PeerService | None = None) -> Gateway:
        """A gateway waiting on `commit_peer` (default: the first peer of the identity's org),
        failing over to another live peer (own org first) when that one dies or hangs."""
        org = identity.identity.org
        waiter = self._waiter(commit_peer or self._home_peer(identity))

        def failover(avoid: Collection[str]) -> CommitWaiter | None:
            """A live peer not in `avoid` (dead or silent ones): own org, not suspect, highest first."""
            live = sorted((p for p in self.peers if p.alive and p.name not in avoid), key=lambda p: (p.org != org, p.name in self.suspects, -p.height))
            return self._waiter(live[0]) if live else None

        policies = {cc.name: self.channel_view.endorsement_policy(cc.name) for cc in self.config.chaincodes}
        return Gateway(
            identity,
            channel=self.channel,
            default_chaincode=self.chaincode_name,
            endorsers=self.peers,
            policies=policies,
            orderer=self.orderer,
            waiter=waiter,
            failover=failover,
            locators=self.peers,
            suspects=self.suspects,
        )

    def _waiter(self, peer: PeerService) -> CommitWaiter:
        """One commit waiter per peer, shared by every gateway that waits on it."""
        with self._lock:
            waiter = self._waiters.get(peer.name)
            if waiter is None:
                waiter = self._waiters[peer.name] = CommitWaiter(peer)
            return waiter

    def _home_peer(self, identity: SigningIdentity) -> PeerService:
        org = identity.identity.org
        return next((p for p in self.peers if p.org == org), self.peers[0])

    # --- operations ---------------------------------------------------------------------

    def status(self) -> list[PeerStatus]:
        out = []
        for peer in self.peers:
            height, commit = peer.status
            out.append(PeerStatus(peer.name, peer.org, height, commit.hex()))
        return out

    def wait_for_height(self, height: int, timeout_s: float = NETWORK_HEIGHT_WAIT_S) -> bool:
        """Block until every peer has `height` blocks (for tests and the CLI)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(p.height >= height for p in self.peers):
                return True
            time.sleep(NETWORK_HEIGHT_POLL_S)
        return False

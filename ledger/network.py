"""The embedded network: one orderer and every peer of the channel in one process.

`Network.open(data_dir)` reads what `gridledger init` wrote (network file, key material,
genesis block), starts the orderer and the peers (each with its own block files and state
database, each recovering and catching up), and hands out gateways for client identities.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.channel import Channel
from ledger.logs import configure_logging
from ledger.config import (
    CONFIG_COPY_FILE,
    ChannelConfig,
    NetworkSpec,
    approver_org_of,
    crypto_dir,
    genesis_config,
    load_ca,
    load_genesis,
    load_identity,
    load_spec,
    state_url_for,
)
from ledger.gateway import CommitWaiter, Gateway
from ledger.identity import SigningIdentity
from ledger.orderer import Orderer
from ledger.messages import Block
from ledger.peer import Peer
from ledger.remote_peer import RemotePeer
from ledger.verify import VerifyReport, verify_network


LOCK_FILE = "network.lock"
AnyPeer = Peer | RemotePeer  # in this process, or in a process of its own


class NetworkBusy(Exception):
    """Another process runs this network (two writers would corrupt the peers' files)."""


def _lock_data_dir(data_dir: Path) -> int:
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise NetworkBusy(f"the network in {data_dir} is running in another process (pid {holder}); stop it or use its console/API") from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


@dataclass(frozen=True, slots=True)
class PeerStatus:
    name: str
    org: str
    height: int
    commit_hash: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "org": self.org, "height": self.height, "commit_hash": self.commit_hash}


def _height_and_hash(peer: "AnyPeer") -> tuple[int, str]:
    height, commit = peer.status
    return height, commit.hex()


class Network:
    def __init__(self, data_dir: Path, spec: NetworkSpec, config: ChannelConfig, orderer: Orderer, peers: list[AnyPeer]) -> None:
        self.data_dir = data_dir
        self.spec = spec
        self.config = config
        self.orderer = orderer
        self.peers = peers
        self._waiters: dict[str, CommitWaiter] = {}
        self._lock_fd: int | None = None
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def open(cls, data_dir: Path, *, state_url_template: str | None = None, peer_processes: bool = False) -> "Network":
        """Start the network in `data_dir`; with `peer_processes` every peer runs in its own
        OS process (see `remote_peer`), otherwise everything runs in this process."""
        configure_logging()
        data_dir = Path(data_dir)
        genesis = load_genesis(data_dir)
        lock_fd = _lock_data_dir(data_dir)
        try:
            network = cls._assemble(data_dir, genesis, state_url_template, peer_processes)
        except BaseException:
            os.close(lock_fd)
            raise
        network._lock_fd = lock_fd
        return network

    @classmethod
    def _assemble(cls, data_dir: Path, genesis: Block, state_url_template: str | None, peer_processes: bool) -> "Network":
        spec = load_spec(data_dir / CONFIG_COPY_FILE)
        config = genesis_config(genesis)
        orderer_node = next(n for n in config.nodes if n.role == "orderer")
        orderer = Orderer(
            load_identity(data_dir, orderer_node.org, orderer_node.name),
            Channel(config),
            data_dir / "orderer" / orderer_node.name,
            genesis,
        )
        peers: list[AnyPeer] = []
        try:
            for node in (n for n in config.nodes if n.role == "peer"):
                name = f"{node.name}.{node.org}"
                url = state_url_for(state_url_template or spec.storage.state, data_dir, name)
                identity = load_identity(data_dir, node.org, node.name)
                directory = data_dir / "peers" / name
                if peer_processes:
                    peers.append(RemotePeer(name, identity, Channel(config), directory, data_dir, url))
                else:
                    peers.append(Peer(name, identity, Channel(config), directory, url))
            for peer in peers:
                orderer.subscribe(peer.deliver)
                peer.start(genesis, orderer.blocks_from)
            for peer in peers:
                if isinstance(peer, RemotePeer):
                    peer.wait_ready()
        except BaseException:
            for peer in peers:
                peer.stop()
            orderer.stop()
            raise
        orderer.start()
        return cls(data_dir, spec, config, orderer, peers)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.orderer.stop()
        for peer in self.peers:
            peer.stop()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> "Network":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- who is who -----------------------------------------------------------------------

    @property
    def peer_processes(self) -> bool:
        """True when every peer runs in its own OS process."""
        return all(isinstance(p, RemotePeer) for p in self.peers)

    @property
    def channel(self) -> str:
        return self.config.channel

    @property
    def chaincode_name(self) -> str:
        return self.config.chaincodes[0].name

    @property
    def approver_org(self) -> str:
        return approver_org_of(self.spec)

    @property
    def console_org(self) -> str:
        return self.spec.console.org

    def enroll(self, org: str, name: str, role: str = "client", attributes: dict[str, str] | None = None) -> SigningIdentity:
        """Issue a new identity with `org`'s certificate authority."""
        return load_ca(self.data_dir, org).issue(name, role, attributes)

    def service_identity(self, org: str) -> SigningIdentity:
        """The org's ledger-held administrator (the CLI's approver, auto-approval rules)."""
        return load_identity(self.data_dir, org, "admin")

    def client_identity(self, org: str, name: str) -> SigningIdentity:
        """A CLI user's identity under crypto/<org>/users/, created on first use."""
        path = crypto_dir(self.data_dir, org) / "users" / f"{name}.json"
        if path.exists():
            return SigningIdentity.load(path)
        identity = self.enroll(org, name)
        identity.save(path)
        return identity

    # --- clients ------------------------------------------------------------------------

    def gateway(self, identity: SigningIdentity, *, commit_peer: AnyPeer | None = None) -> Gateway:
        peer = commit_peer or self._home_peer(identity)
        with self._lock:
            waiter = self._waiters.get(peer.name)
            if waiter is None:
                waiter = self._waiters[peer.name] = CommitWaiter(peer)
        policies = {cc.name: peer.channel.endorsement_policy(cc.name) for cc in self.config.chaincodes}
        return Gateway(
            identity,
            channel=self.channel,
            default_chaincode=self.chaincode_name,
            endorsers=self.peers,
            policies=policies,
            orderer=self.orderer,
            waiter=waiter,
        )

    def _home_peer(self, identity: SigningIdentity) -> AnyPeer:
        org = identity.identity.org
        return next((p for p in self.peers if p.org == org), self.peers[0])

    # --- operations ---------------------------------------------------------------------

    def status(self) -> list[PeerStatus]:
        return [PeerStatus(p.name, p.org, *_height_and_hash(p)) for p in self.peers]

    def wait_for_height(self, height: int, timeout_s: float = 30.0) -> bool:
        """Block until every peer has `height` blocks (for tests and the CLI)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(p.height >= height for p in self.peers):
                return True
            time.sleep(0.01)
        return False

    def verify(self) -> VerifyReport:
        """Re-check every node's chain and state while the network runs (commits pause per peer)."""
        return verify_network(self.data_dir, live=self)


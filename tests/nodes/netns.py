"""Network namespaces for the multi-host tests: one per organization, joined by a bridge.

Each organization's namespace has one interface (`eth0`, its address on SUBNET) whose
veth peer sits in a switch namespace holding the bridge, so the host's own namespace gets
no interface, address or route. `cut(org)` sets that organization's bridge port down (its
cable pulled: packets in both directions are dropped, TCP connections are not closed),
`heal(org)` sets it up again. The test process itself joins a namespace only on threads
it creates for the purpose (`run_in`), or around opening a NATS connection whose event
loop thread then lives there (`entered`). `destroy` ends the processes still inside the
namespaces (only ours: the namespaces are new) and deletes them, also after a failure.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
SUBNET = "10.77.0"  # inside the namespaces only
PREFIX_LEN = 24
NETNS_DIR = "/run/netns"
RUN_IN_TIMEOUT_S = 30.0

_libc = ctypes.CDLL(None, use_errno=True)


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def _setns(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns {path}: {os.strerror(errno)}")
    finally:
        os.close(fd)


class Namespaces:
    """One namespace per organization on one bridge; removed by `destroy`."""

    def __init__(self, orgs: list[str]) -> None:
        self.tag = f"gl{secrets.token_hex(3)}"
        self.orgs = list(orgs)
        self.switch = f"{self.tag}-sw"
        self.names = {org: f"{self.tag}-{org}" for org in orgs}
        self.addresses = {org: f"{SUBNET}.{i + 1}" for i, org in enumerate(orgs)}
        self._ports = {org: f"p{i}" for i, org in enumerate(orgs)}  # bridge ports, in the switch namespace
        self.created: list[str] = []

    def create(self) -> None:
        for name in [self.switch, *self.names.values()]:
            _ip("netns", "add", name)
            self.created.append(name)
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.switch, "link", "set", "br0", "up")
        for org, ns in self.names.items():
            port = self._ports[org]
            _ip("link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", port, "netns", self.switch)
            _ip("-n", self.switch, "link", "set", port, "master", "br0")
            _ip("-n", self.switch, "link", "set", port, "up")
            _ip("-n", ns, "addr", "add", f"{self.addresses[org]}/{PREFIX_LEN}", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")

    def cut(self, org: str) -> None:
        _ip("-n", self.switch, "link", "set", self._ports[org], "down")

    def heal(self, org: str) -> None:
        _ip("-n", self.switch, "link", "set", self._ports[org], "up")

    def exec_prefix(self, org: str) -> list[str]:
        return ["ip", "netns", "exec", self.names[org]]

    @contextlib.contextmanager
    def entered(self, org: str) -> Iterator[None]:
        """The calling thread inside `org`'s namespace for the block (threads started there
        stay there); back in its own namespace afterwards, whatever happens."""
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            _setns(f"{NETNS_DIR}/{self.names[org]}")
            try:
                yield
            finally:
                if _libc.setns(own, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "could not return to the test's own network namespace")
        finally:
            os.close(own)

    def run_in(self, org: str, call: Callable[[], T]) -> T:
        """`call()` on a fresh thread inside `org`'s namespace; its result or its exception."""
        out: list[T] = []
        error: list[BaseException] = []

        def work() -> None:
            try:
                _setns(f"{NETNS_DIR}/{self.names[org]}")
                out.append(call())
            except BaseException as exc:
                error.append(exc)

        thread = threading.Thread(target=work, name=f"netns-{org}", daemon=True)
        thread.start()
        thread.join(RUN_IN_TIMEOUT_S)
        if error:
            raise error[0]
        if not out:
            raise TimeoutError(f"a call inside {org}'s namespace took over {RUN_IN_TIMEOUT_S} s")
        return out[0]

    def pids(self) -> list[int]:
        found: list[int] = []
        for name in self.created:
            done = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True, timeout=30)
            found += [int(p) for p in done.stdout.split()]
        return found

    def destroy(self) -> None:
        """End what still runs inside (our nodes), then delete every namespace made."""
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for name in reversed(self.created):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
        self.created.clear()

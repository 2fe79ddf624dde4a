"""The ports a node listens on, checked before it starts: PORT_IN_USE names the one taken.

Why: a NATS server whose client port another process holds exits 1 right after it starts.
`up --networked` then restarted it with backoff for ever, logging only `exit_code: 1`
(the reason was in that node's node.log), and the consortium never formed; a peer whose
health port was taken ran on without its endpoint. One check up front, before any node
starts, names the port, the node and what to do instead.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from ledger.core.errors import ConfigError, LedgerError
from ledger.node.nodeconf import NodeConfig

NO_PORT = 0  # a port of 0 is chosen by the system when the node binds it: nothing to check


@dataclass(frozen=True)
class Listen:
    """One address a node binds: which node, what for, where."""

    node: str
    what: str  # "client port", "health port", ...
    host: str
    port: int


def node_listens(home: Path, config: NodeConfig, *, console_host: str | None = None, console_port: int | None = None) -> list[Listen]:
    """Every address `node run` of `home` binds (a console's `--host`/`--port` included)."""
    found: list[Listen] = []
    if config.kind == "nats":
        server = _server_config(home, config)
        host = str(server.get("host", "127.0.0.1"))
        found.append(Listen(config.name, "client port", host, int(server.get("port", NO_PORT))))
        cluster = server.get("cluster")
        if isinstance(cluster, dict):
            found.append(Listen(config.name, "cluster port", str(cluster.get("host", host)), int(cluster.get("port", NO_PORT))))
        found.append(Listen(config.name, "monitoring port", config.health_host, config.health_port))
    else:
        found.append(Listen(config.name, "health port", config.health_host, config.health_port))
    if config.kind == "console":
        host = console_host if console_host is not None else config.console_host or "127.0.0.1"
        port = console_port if console_port is not None else config.console_port or NO_PORT
        found.append(Listen(config.name, "console port", host, port))
    return [listen for listen in found if listen.port != NO_PORT]


def _server_config(home: Path, config: NodeConfig) -> dict[str, Any]:
    path = home / (config.server_config_file or "")
    try:
        server = msgspec.json.decode(path.read_bytes())
    except (OSError, msgspec.DecodeError) as error:
        raise ConfigError(f"{config.name}: cannot read its NATS server config {path}: {error}") from error
    if not isinstance(server, dict):
        raise ConfigError(f"{config.name}: {path} is not a JSON object")
    return server


def port_taken(host: str, port: int) -> bool:
    """True when another socket listens on host:port. Only EADDRINUSE counts: an address
    this machine does not have (a node laid out for another machine) is the node's own
    start-up error to report, not a busy port."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a closed socket's TIME_WAIT is no owner
        try:
            probe.bind((host, port))
        except OSError as error:
            return error.errno == errno.EADDRINUSE
    return False


def check_ports_free(listens: list[Listen]) -> None:
    """PORT_IN_USE for the first address two of `listens` share (`up --networked --port`
    on a NATS server's port, say) or another process already listens on."""
    seen: dict[tuple[str, int], Listen] = {}
    for listen in listens:
        first = seen.setdefault((listen.host, listen.port), listen)
        if first is not listen:
            raise LedgerError(
                "PORT_IN_USE",
                f"{listen.host}:{listen.port} is both {first.node}'s {first.what} and {listen.node}'s {listen.what}: give one of them another port",
            )
    for listen in listens:
        if port_taken(listen.host, listen.port):
            raise LedgerError(
                "PORT_IN_USE",
                f"{listen.host}:{listen.port} ({listen.node}'s {listen.what}) is already in use by another process: "
                "stop that process, or lay the nodes out on other ports (`init --networked --base-port N` in a new directory, "
                "`node configure --base-port N`)",
            )


PORT_MAX = 65535


def check_console_listen(host: str, port: int) -> None:
    """Refuse, before anything starts, a console address the embedded `up` could not serve on:
    PORT_IN_USE when another process listens there, BAD_ARGUMENT when this machine cannot
    listen there at all (a name that does not resolve, an address it does not have).

    Why: the embedded `up` opened the network (four peer processes), printed "GridLedger
    console on http://H:P/" and only then let uvicorn bind, which logged its own ERROR line
    and exited 3 without a `{code, message}` document; the operator was told the console
    was up when nothing listened. (`up --networked` checks every node's ports, the
    console's included, in its supervisor.) Port 0 (the system picks one) still checks the host."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as error:
        raise LedgerError("BAD_ARGUMENT", f"--host {host!r} is not an address this machine can listen on: {error}") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: a closed socket's TIME_WAIT is no owner
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise LedgerError(
                    "PORT_IN_USE", f"{host}:{port} (the console's port) is already in use by another process: stop that process, or start with another --port"
                ) from None
            raise LedgerError("BAD_ARGUMENT", f"the console cannot listen on {host}:{port}: {error.strerror or error}") from None

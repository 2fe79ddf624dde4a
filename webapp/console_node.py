"""`gridledger node run` for the console node of a networked layout.

The console runs unchanged: the same application over a `Network` whose peers and ordering
service are reached over NATS with the console node's own credentials (its nkey and, with
TLS, its certificate). It needs the data directory its node directory sits in (the
console's own database, wallets, datasets and the organizations' CAs for sign-ups).
"""

from __future__ import annotations

import signal
from pathlib import Path

from ledger.core.errors import ConfigError
from ledger.node.health import maybe_serve, network_health
from ledger.node.layout import NetworkLayout, NodeLayout
from ledger.node.natsconf import node_connect_options
from ledger.node.nodeconf import NodeConfig

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def data_dir_of(home: Path) -> Path:
    """DATA of DATA/orgs/<Org>/nodes/<node>: where the console's own files live."""
    data = home.resolve().parents[3]
    if not NetworkLayout(data).network_file.exists():
        raise ConfigError(f"{home}: a console node runs inside its data directory (DATA/orgs/<Org>/nodes/<node>); {data} holds no network file")
    return data


class ConsoleStopped(BaseException):
    """SIGTERM/SIGINT: after uvicorn's graceful shutdown, or while the network is opened.

    A BaseException, as KeyboardInterrupt is: a stop request is no error, and the start-up's
    `except Exception` handlers (the NATS connect's, which said NATS_UNAVAILABLE
    "ConsoleStopped()") must let it through to the clean-up."""


def _stopped(signum: int, frame: object) -> None:
    raise ConsoleStopped()


def stop_on_signals() -> None:
    """uvicorn stops gracefully on SIGTERM, then raises the signal again with the handler that
    was there before it: with Python's default the process died right there, before the
    `finally` below (the NATS link was never closed, `node.pid` stayed, exit -15). This
    handler ends `uvicorn.run` with ConsoleStopped instead, so the node exits 0 after its
    clean-up."""
    signal.signal(signal.SIGTERM, _stopped)
    signal.signal(signal.SIGINT, _stopped)


def run_console_node(home: Path, config: NodeConfig, host: str | None, port: int | None) -> int:
    """Serve the console until SIGTERM/SIGINT (uvicorn stops gracefully); exit 0, also when
    stopped while it still imports or waits for the NATS servers."""
    # First: the NATS connect below waits for the servers, and a SIGTERM meanwhile (or during
    # the imports) killed the node with Python's default: exit -15, node.pid left behind.
    stop_on_signals()
    try:
        import uvicorn

        from ledger.node.logs import configure_logging
        from ledger.node.network import Network
        from webapp.app import create_app
        from webapp.head_requests import answer_head

        configure_logging()
        data = data_dir_of(home)
        network = Network.open(data, networked=True, nats_options=node_connect_options(home, config))
    except ConsoleStopped:
        return 0
    health = None
    try:
        health = maybe_serve(config.health_host, config.health_port, lambda: network_health(config.name, "console", network))
        app = create_app(data, network=network)
        # proxy_headers=False: the console decides itself whom to believe (webapp.throttle)
        listen_host = host or config.console_host or DEFAULT_HOST
        listen_port = port if port is not None else (config.console_port or DEFAULT_PORT)
        # `status` reports where it really listens (`up --networked --port P` overrides node.json)
        NodeLayout(home).console_address_file.write_text(f"http://{listen_host}:{listen_port}\n")
        try:
            uvicorn.run(answer_head(app), host=listen_host, port=listen_port, log_level="warning", proxy_headers=False)
        except ConsoleStopped:
            pass
    finally:
        if health is not None:
            health.stop()
        network.close()
    return 0

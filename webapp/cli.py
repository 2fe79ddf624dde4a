"""The `gridledger` console script: the ledger's commands plus `up`, which starts the
default network and the console in one process."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from ledger.node.nodeconf import NodeConfig
from ledger.node.noderun import register_console_runner
from ledger.node.ports import PORT_MAX
from ledger.tools.cli import app, init_failure

__all__ = ["app"]


def _run_console_node(home: Path, config: NodeConfig, host: str | None, port: int | None) -> int:
    from webapp.console_node import run_console_node

    return run_console_node(home, config, host, port)


register_console_runner(_run_console_node)


@app.command()
def up(
    data: Path = typer.Option(Path("data"), "--data", help="Directory of the network; created with `init` when empty."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address the console listens on."),
    port: int = typer.Option(8080, "--port", min=0, max=PORT_MAX, help="Port the console listens on (0: one the system picks)."),
    config: Path | None = typer.Option(None, "--config", help="Network file for a first init (default: network-config/network.yaml)."),
    admin_password: str | None = typer.Option(
        None, "--admin-password", envvar="GRIDLEDGER_ADMIN_PASSWORD", help="First password of the console administrator (generated and printed once if omitted)."
    ),
    one_process: bool = typer.Option(False, "--one-process", help="Run every peer in this process even if the network file asks for peer processes."),
    networked: bool = typer.Option(False, "--networked", help="Every node its own OS process on NATS JetStream, supervised (NATS servers, orderers, peers, console)."),
) -> None:
    """Start the network (initializing DIR first if it holds none) and serve the console."""
    import uvicorn

    from ledger.core.errors import ConfigError, LedgerError
    from ledger.node.init import init_network
    from ledger.node.layout import NetworkLayout
    from ledger.node.material import no_genesis_error
    from ledger.node.network import Network
    from ledger.node.ports import check_console_listen
    from ledger.node.spec import default_config_path, load_spec
    from webapp.app import create_app
    from webapp.console_node import ConsoleStopped, stop_on_signals
    from webapp.head_requests import answer_head

    layout = NetworkLayout(data)
    if not networked:  # the console binds in this process: an address it cannot serve on is refused before init and the peers
        check_console_listen(host, port)
    if not layout.genesis_file.exists():
        missing = no_genesis_error(layout)
        if missing.code != "NO_NETWORK":  # a network that lost its genesis.block: init would refuse it
            raise missing
        try:
            result = init_network(config or default_config_path(), data, admin_password=admin_password, networked=networked)
        except (ConfigError, ValueError) as exc:
            raise LedgerError("INIT_FAILED", init_failure(exc)) from None
        typer.echo(f"Initialized a new network in {data}.")
        if result.admin_password_generated:
            typer.echo(f"Console administrator: user 'admin', password {result.admin_password}  (shown once: keep it)")
    from ledger.node.netnetwork import is_networked

    if networked != is_networked(layout):  # one {code, message}, not NO_NETWORK or NATS_UNAVAILABLE
        if networked:
            raise LedgerError("NOT_NETWORKED", f"{data} holds an embedded network: start it with `gridledger up --data {data}` (no --networked), or init a new directory with `gridledger init --data NEW_DIR --networked`")
        raise LedgerError("NOT_EMBEDDED", f"{data} holds a networked consortium: start it with `gridledger up --data {data} --networked`")
    spec = load_spec(layout.network_file)  # a ConfigError is printed as {code, message} by ledger.tools.cli.main
    if networked:  # checked first: with a damaged network file the console node and the CLI fail, each restart
        supervise(data, host, port)
        return
    processes = spec.embedded.peer_processes and not one_process
    # Opened before the server starts, so that NETWORK_BUSY, a damaged peer's STORAGE_CORRUPT
    # (naming `gridledger repair`) or ORDERER_DAMAGED is one {code, message}, not a traceback
    # inside the server's start-up. The orderer and the console run in this process; only the
    # peers are children (with pid files: a killed run's orphans are ended by the next).
    # SIGTERM (systemd, docker stop) ends like Ctrl-C: the peers stopped, exit 0. Installed before
    # the peers start: a SIGTERM during start-up killed `up` with Python's default (exit -15), its
    # peer processes died on a broken pipe with a traceback and their pid files stayed.
    stop_on_signals()
    try:
        network = Network.open(data, peer_processes=processes)
    except ConsoleStopped:
        return  # Network.open stopped the peers it had started and removed their pid files
    try:
        typer.echo(f"GridLedger console on http://{host}:{port}/  (API description at /schema)")
        # proxy_headers=False: uvicorn would otherwise believe X-Forwarded-For from loopback; the console
        # decides itself, from GRIDLEDGER_TRUSTED_PROXIES (webapp.throttle.client_address)
        uvicorn.run(answer_head(create_app(data, network=network)), host=host, port=port, log_level="warning", proxy_headers=False)
    except ConsoleStopped:
        pass
    finally:
        network.close()


def supervise(data: Path, host: str, port: int) -> None:
    """Run the networked layout's nodes, each its own process, until Ctrl-C or SIGTERM."""
    from ledger.node.logs import configure_logging
    from ledger.node.noderun import RUNNABLE_KINDS
    from ledger.node.supervisor import Supervisor, install_stop_signals

    configure_logging()
    supervisor = Supervisor(data, [sys.executable, "-m", "webapp.cli"], kinds=RUNNABLE_KINDS, extra_args={"console": ["--host", host, "--port", str(port)]}, console_listen=(host, port))  # LedgerError: {code, message}
    install_stop_signals(supervisor)
    typer.echo(f"GridLedger networked: {len(supervisor.children)} nodes supervised from {data}; `gridledger status --data {data} --json` lists them. Ctrl-C stops them in order.")
    typer.echo(f"GridLedger console on http://{host}:{port}/  (API description at /schema; it answers once the peers are heard)")
    supervisor.run()


if __name__ == "__main__":
    app()

"""The `gridledger` command line: init, invoke, query, status, verify, bench.

`invoke` and `query` print JSON on stdout; a committed transaction exits 0 with its
`tx_id`, `block` and `code: "VALID"`, a refusal prints `code` and `message` and exits 1.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ledger.core.errors import ConfigError, LedgerError
from ledger.core.identity import SigningIdentity
from ledger.core.messages import compute_tx_id
from ledger.gateway import CommitError, GatewayError, creator_party, make_signoff
from ledger.node.init import init_network
from ledger.node.layout import NetworkLayout
from ledger.node.spec import default_config_path, load_spec
from ledger.tools.netcli import channel_app, node_app, org_app

if TYPE_CHECKING:
    from ledger.node.network import Network

app = typer.Typer(help="GridLedger: a Fabric-style permissioned ledger for power data.", no_args_is_help=True, add_completion=False)

app.add_typer(org_app, name="org")
app.add_typer(channel_app, name="channel")
app.add_typer(node_app, name="node")

DataOption = typer.Option(Path("data"), "--data", help="Directory of the network (made by `gridledger init`).")


def emit(document: dict[str, Any], exit_code: int = 0) -> None:
    typer.echo(json.dumps(document, ensure_ascii=False, indent=2))
    raise typer.Exit(exit_code)


def fail(code: str, message: str, **extra: Any) -> None:
    emit({"code": code, "message": message, **extra}, 1)


def open_network(data: Path, *, peer_processes: bool = False) -> "Network":
    from ledger.node.network import Network

    try:
        return Network.open(data, peer_processes=peer_processes)
    except LedgerError as exc:
        fail(exc.code, exc.message)
        raise


@app.command()
def init(
    data: Path = DataOption,
    config: Path = typer.Option(None, "--config", help="Network file (default: network-config/network.yaml)."),
    admin_password: str | None = typer.Option(None, "--admin-password", envvar="GRIDLEDGER_ADMIN_PASSWORD", help="First password of the console administrator (generated and printed once if omitted)."),
    networked: bool = typer.Option(False, "--networked", help="Also lay out every node's own directory (node.json, keys, NATS credentials) for `node run` and `up --networked`."),
    base_port: int | None = typer.Option(None, "--base-port", help="Networked: first of the ports handed out on this machine (default: the network file's networked.base_port)."),
) -> None:
    """Create keys, certificates and the genesis block from the network file."""
    try:
        result = init_network(config or default_config_path(), data, admin_password=admin_password, networked=networked, base_port=base_port)
    except (ConfigError, ValueError) as exc:
        fail("INIT_FAILED", str(exc))
    out = {"data": str(result.data_dir), "approver_org": result.approver_org, "admin_user": "admin"}
    if result.admin_password_generated:
        out["admin_password"] = result.admin_password
        out["note"] = "the console administrator's password is shown once: keep it"
    emit(out)


def _identity(net: "Network", who: str) -> SigningIdentity:
    org, _, name = who.rpartition("/")
    return net.client_identity(org or net.console_org, name)


@app.command(context_settings={"allow_extra_args": False})
def invoke(
    function: str = typer.Argument(..., help="Chaincode function, e.g. userRegister."),
    args: list[str] = typer.Argument(None, help="Its arguments."),
    data: Path = DataOption,
    as_user: str = typer.Option(..., "--as", help="Acting user: NAME (console org) or ORG/NAME; created on first use."),
    cosign: list[str] = typer.Option([], "--cosign", help="Another party who signs too (a transfer's seller)."),
    no_approval: bool = typer.Option(False, "--no-approval", help="Do not attach the regulator administrator's approval."),
) -> None:
    """Submit a transaction signed by --as (and --cosign), approved by the regulator admin."""
    net = open_network(data)
    try:
        user = _identity(net, as_user)
        gateway = net.gateway(user)
        invocation = gateway.new_invocation(function, args or [])
        tx_id = compute_tx_id(invocation)
        # --as submits, so its proposal signature covers its party signoff; --cosign signs its own
        signoffs = [creator_party(user)] + [make_signoff("party", _identity(net, c), tx_id) for c in cosign]
        if not no_approval:
            signoffs.append(make_signoff("approval", net.service_identity(net.approver_org), tx_id))
        try:
            result = gateway.submit(invocation, signoffs)
        except CommitError as exc:
            fail(exc.code, exc.message, tx_id=exc.tx_id, block=exc.block)
        except GatewayError as exc:
            fail(exc.code, exc.message, tx_id=tx_id)
        emit({"tx_id": result.tx_id, "block": result.block, "code": result.code.name, "result": result.json()})
    finally:
        net.close()


@app.command()
def query(
    function: str = typer.Argument(...),
    args: list[str] = typer.Argument(None),
    data: Path = DataOption,
    as_user: str = typer.Option("cli-reader", "--as", help="Identity that signs the query proposal."),
) -> None:
    """Evaluate a query on one peer (nothing is ordered)."""
    net = open_network(data)
    try:
        try:
            result = net.gateway(_identity(net, as_user)).evaluate(function, args or [])
        except GatewayError as exc:
            fail(exc.code, exc.message)
        emit({"result": json.loads(result) if result else None})
    finally:
        net.close()


def is_networked(data: Path) -> bool:
    """A data directory laid out by `init --networked` (its nodes run on NATS)."""
    from ledger.node.netnetwork import is_networked as networked_layout

    return networked_layout(NetworkLayout(data))


@app.command()
def status(
    data: Path = DataOption,
    as_json: bool = typer.Option(True, "--json", help="Print JSON (the only format; accepted for scripts)."),
) -> None:
    """Each peer's height and commit (state) hash; for a networked layout every node's process."""
    if is_networked(data):
        from ledger.node.netstatus import networked_status

        try:
            emit(networked_status(data))
        except LedgerError as exc:
            fail(exc.code, exc.message)
    net = open_network(data)
    try:
        peers = [p.as_dict() for p in net.status()]
        emit({"channel": net.channel, "orderer_height": net.orderer.height, "peers": peers, "in_sync": len({(p["height"], p["commit_hash"]) for p in peers}) == 1})
    finally:
        net.close()


@app.command()
def verify(data: Path = DataOption) -> None:
    """Re-check every peer's ledger; exits 1 and names the first mismatch if any."""
    from ledger.tools.verify import verify_network

    try:
        if is_networked(data):
            from ledger.tools.netverify import verify_networked

            report = verify_networked(data)
        else:
            report = verify_network(data)
    except ConfigError as exc:
        fail("NO_NETWORK", str(exc))
    except LedgerError as exc:  # the NATS cluster cannot be reached
        fail(exc.code, exc.message)
    emit(report.as_dict(), 0 if report.ok else 1)


@app.command()
def bench(
    data: Path = typer.Option(Path("bench-data"), "--data", help="Network to benchmark (created if missing)."),
    transactions: int = typer.Option(2000, "--tx", help="Transactions per measured round."),
    rates: str = typer.Option("0", "--rates", help="Comma-separated send rates in tx/s per round; 0 = as fast as possible."),
    workers: int = typer.Option(16, "--senders", help="Client threads that endorse and order (commits are awaited asynchronously)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    report_dir: Path | None = typer.Option(None, "--report", help="Also write report.json and SVG charts here."),
    one_process: bool = typer.Option(False, "--one-process", help="Run every peer in this process even if the network file asks for peer processes."),
) -> None:
    """Caliper-style benchmark: setup, then measured rounds at fixed send rates."""
    from ledger.tools.benchrun import run_benchmark

    layout = NetworkLayout(data)
    if not layout.genesis_file.exists():
        init_network(default_config_path(), data, admin_password=os.environ.get("GRIDLEDGER_ADMIN_PASSWORD") or None)
    spec = load_spec(layout.network_file)
    net = open_network(data, peer_processes=spec.embedded.peer_processes and not one_process)
    try:
        report = run_benchmark(net, transactions, [float(r) for r in rates.split(",")], workers, quiet=as_json, report_dir=report_dir)
    finally:
        net.close()
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    sys.exit(0)

"""The `gridledger` command line: init, invoke, query, status, verify, repair, bench.

Every command prints one JSON document on stdout and logs on stderr. A committed
transaction exits 0 with its `tx_id`, `block` and `code: "VALID"`. Every error is
`{"code", "message"}` on stdout with a non-zero exit: 1 for a refusal or a fault of the
ledger, 2 for a bad command line (BAD_ARGUMENT: an unknown option, a value out of range, an
argument that is not UTF-8). No input prints a traceback: an unexpected exception is
INTERNAL_ERROR with its type and message (see `main`). Arguments after a chaincode
function's name go to the chaincode as they are (`invoke userTopup D -5`), so options
come before the function name.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
import typer

from ledger.core.errors import ConfigError, LedgerError
from ledger.core.identity import SigningIdentity
from ledger.core.messages import compute_tx_id
from ledger.gateway import CommitError, GatewayError, creator_party, make_signoff
from ledger.node.init import init_network
from ledger.node.layout import NetworkLayout
from ledger.node.logs import configure_logging
from ledger.node.material import home_org, load_admin, no_genesis_error
from ledger.node.spec import BASE_PORT_MAX, BASE_PORT_MIN, default_config_path, load_spec
from ledger.tools.netcli import channel_app, node_app, org_app

if TYPE_CHECKING:
    from ledger.node.network import Network

log = structlog.get_logger("cli")

EXIT_REFUSED = 1  # the ledger refused, or found a fault
EXIT_USAGE = 2  # the command line itself is wrong (click's convention)
EXIT_INTERRUPTED = 130
USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")  # a file name under orgs/<org>/users/
RATE_MAX = 1_000_000.0  # tx/s per bench round
# Chaincode arguments are taken as they are: `-5` after the function name is an argument.
CHAINCODE_ARGS = {"allow_interspersed_args": False}


class LedgerCli(typer.Typer):
    """The Typer app whose every failure is a `{"code", "message"}` document (see `main`)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        sys.exit(main(self))


def print_error(code: str, message: str) -> None:
    typer.echo(json.dumps({"code": code, "message": message}, ensure_ascii=False, indent=2))


def not_utf8(arguments: Sequence[str]) -> int | None:
    """Position (1-based) of the first argument that is not valid UTF-8, if any (Python keeps
    undecodable bytes of argv as lone surrogates)."""
    for position, argument in enumerate(arguments, 1):
        try:
            argument.encode("utf-8")
        except UnicodeEncodeError:
            return position
    return None


def main(cli: typer.Typer, arguments: Sequence[str] | None = None) -> int:
    """Run the command line and turn every failure into one error document and an exit code."""
    configure_logging()  # logs go to stderr: stdout holds the one JSON document
    argv = list(sys.argv[1:] if arguments is None else arguments)
    bad = not_utf8(argv)
    if bad is not None:
        print_error("BAD_ARGUMENT", f"argument {bad} is not valid UTF-8")
        return EXIT_USAGE
    command = typer.main.get_command(cli)
    try:
        result = command.main(args=argv, prog_name="gridledger", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.TyperException as exc:  # the parser's refusals: unknown option, bad value, missing argument
        print_error("BAD_ARGUMENT", exc.format_message())
        return EXIT_USAGE
    except (typer.Abort, KeyboardInterrupt):
        print_error("INTERRUPTED", "interrupted")
        return EXIT_INTERRUPTED
    except LedgerError as exc:
        print_error(exc.code, exc.message)
        return EXIT_USAGE if exc.code == "BAD_ARGUMENT" else EXIT_REFUSED
    except Exception as exc:  # a bug or a lost disk: named, never a traceback on the terminal
        log.error("cli.internal_error", error_type=type(exc).__name__, error=str(exc))
        print_error("INTERNAL_ERROR", f"{type(exc).__name__}: {exc}")
        return EXIT_REFUSED
    return result if isinstance(result, int) else 0


app = LedgerCli(help="GridLedger: a Fabric-style permissioned ledger for power data.", no_args_is_help=True, add_completion=False)

app.add_typer(org_app, name="org")
app.add_typer(channel_app, name="channel")
app.add_typer(node_app, name="node")

DataOption = typer.Option(Path("data"), "--data", help="Directory of the network (made by `gridledger init`).")


def emit(document: dict[str, Any], exit_code: int = 0) -> None:
    typer.echo(json.dumps(document, ensure_ascii=False, indent=2))
    raise typer.Exit(exit_code)


def fail(code: str, message: str, **extra: Any) -> None:
    emit({"code": code, "message": message, **extra}, EXIT_REFUSED)


def fail_usage(code: str, message: str) -> None:
    """An option's value is malformed (a date, a period, a level): the command line is wrong,
    exit 2 like the parser's own refusals, before anything is opened."""
    emit({"code": code, "message": message}, EXIT_USAGE)


def open_network(data: Path, *, peer_processes: bool = False, nats_starting: bool = False) -> "Network":
    from ledger.node.network import Network

    try:
        return Network.open(data, peer_processes=peer_processes, nats_starting=nats_starting)
    except LedgerError as exc:
        fail(exc.code, exc.message)
        raise


@app.command()
def init(
    data: Path = DataOption,
    config: Path = typer.Option(None, "--config", help="Network file (default: network-config/network.yaml)."),
    admin_password: str | None = typer.Option(None, "--admin-password", envvar="GRIDLEDGER_ADMIN_PASSWORD", help="First password of the console administrator (generated and printed once if omitted)."),
    networked: bool = typer.Option(False, "--networked", help="Also lay out every node's own directory (node.json, keys, NATS credentials) for `node run` and `up --networked`."),
    base_port: int | None = typer.Option(None, "--base-port", min=BASE_PORT_MIN, max=BASE_PORT_MAX, help="Networked: first of the ports handed out on this machine (default: the network file's networked.base_port)."),
) -> None:
    """Create keys, certificates and the genesis block from the network file."""
    try:
        result = init_network(config or default_config_path(), data, admin_password=admin_password, networked=networked, base_port=base_port)
    except (ConfigError, ValueError) as exc:
        fail("INIT_FAILED", init_failure(exc))
    out = {"data": str(result.data_dir), "approver_org": result.approver_org, "admin_user": "admin"}
    if result.admin_password_generated:
        out["admin_password"] = result.admin_password
        out["note"] = "the console administrator's password is shown once: keep it"
    emit(out)


def init_failure(exc: Exception) -> str:
    """INIT_FAILED's message: the refusal's own sentence ("CONFIG_INVALID: ..." repeated the
    code of another error inside this one's message)."""
    return exc.message if isinstance(exc, LedgerError) else str(exc)


def _identity(net: "Network", who: str) -> SigningIdentity:
    """`ORG/NAME` (or `NAME` of this directory's own organization, `home_org`: the console's
    in an `init` directory, the member's in a member's own DATA): an administrator of ORG
    when one has that name and no CLI user does (Regulator/admin sets tariffs), else the CLI
    user, created on first use; UNKNOWN_USER for an org the channel does not have or whose
    CA this directory lacks (another member's), BAD_ARGUMENT for a name that is not a plain
    file name."""
    org, _, name = who.rpartition("/")
    orgs = sorted(o.name for o in net.config.orgs)
    own = home_org(net.layout, net.console_org, orgs)
    org = org or own
    if org not in orgs:
        raise LedgerError("UNKNOWN_USER", f"no organization {org!r} in this network (it has {', '.join(orgs)})")
    if not USER_NAME.match(name):
        raise LedgerError("BAD_ARGUMENT", f"user name {name!r} must be 1-64 letters, digits or ._@- (not starting with one of ._@-)")
    layout = net.layout
    if not layout.user_file(org, name).exists() and layout.admin_file(org, name).exists():
        return load_admin(layout, org, name)
    if not layout.user_file(org, name).exists() and not layout.ca_file(org).exists():
        raise LedgerError("UNKNOWN_USER", f"{org} is another member's organization: this directory holds no {org}/{name} and not its CA to make one (use --as {own}/NAME)")
    return net.client_identity(org, name)


@app.command(context_settings=CHAINCODE_ARGS)
def invoke(
    function: str = typer.Argument(..., help="Chaincode function, e.g. userRegister."),
    args: list[str] = typer.Argument(None, help="Its arguments."),
    data: Path = DataOption,
    as_user: str = typer.Option(..., "--as", help="Acting user: NAME (console org) or ORG/NAME (an administrator of ORG if one has that name); created on first use."),
    cosign: list[str] = typer.Option([], "--cosign", help="Another party who signs too (a transfer's seller)."),
    no_approval: bool = typer.Option(False, "--no-approval", help="Do not attach the regulator administrator's approval."),
    chaincode: str | None = typer.Option(None, "--chaincode", help="Chaincode to invoke (default: the network's first, powerdata)."),
) -> None:
    """Submit a transaction signed by --as (and --cosign), approved by the regulator admin when
    the chaincode's approval policy asks for it."""
    net = open_network(data)
    try:
        if chaincode is not None and net.config.chaincode(chaincode) is None:
            fail("UNKNOWN_CHAINCODE", f"chaincode {chaincode!r} is not defined on this channel; it has: {', '.join(cc.name for cc in net.config.chaincodes)}")
        user = _identity(net, as_user)
        gateway = net.gateway(user)
        invocation = gateway.new_invocation(function, args or [], chaincode=chaincode)
        tx_id = compute_tx_id(invocation)
        # --as submits, so its proposal signature covers its party signoff; --cosign signs its own
        signoffs = [creator_party(user)] + [make_signoff("party", _identity(net, c), tx_id) for c in cosign]
        if not no_approval and net.channel_view.approval_policy(invocation.chaincode) is not None:
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


@app.command(context_settings=CHAINCODE_ARGS)
def query(
    function: str = typer.Argument(...),
    args: list[str] = typer.Argument(None),
    data: Path = DataOption,
    as_user: str = typer.Option("cli-reader", "--as", help="Identity that signs the query proposal (as for invoke)."),
    chaincode: str | None = typer.Option(None, "--chaincode", help="Chaincode to query (default: the network's first, powerdata)."),
) -> None:
    """Evaluate a query on one peer (nothing is ordered)."""
    net = open_network(data)
    try:
        try:
            result = net.gateway(_identity(net, as_user)).evaluate(function, args or [], chaincode=chaincode)
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
    """Re-check the genesis file, the orderer and every peer (block files, index, state,
    history, tx index, savepoint) and compare them; exits 1 and names the first fault.
    A running network is NETWORK_BUSY (its console verifies it live)."""
    from ledger.node.network import idle_lock
    from ledger.tools.verify import verify_network

    if not NetworkLayout(data).genesis_file.exists():
        missing = no_genesis_error(NetworkLayout(data))
        fail(missing.code, missing.message)
    if is_networked(data):  # its nodes run as their own processes: they are asked over NATS
        from ledger.tools.netverify import verify_networked

        report = verify_networked(data)  # a LedgerError (NATS unreachable) is printed by main
    else:
        with idle_lock(data):
            report = verify_network(data)
    emit(report.as_dict(), 0 if report.ok else 1)


@app.command()
def repair(
    data: Path = DataOption,
    peer: str = typer.Option(..., "--peer", help="The peer to repair, e.g. peer1.Org2 (`gridledger status` lists them)."),
) -> None:
    """Repair a stopped network's peer whose block files are damaged (STORAGE_CORRUPT): its
    first unsound block and every one after it are replaced by verified copies from the
    orderer and the other peers (damaged bytes kept in damaged-* files), its state, history
    and tx index rebuilt from the blocks; then the network is verified. Exits 1 unless
    verify passes."""
    from ledger.tools.repair import repair_network_peer

    if not NetworkLayout(data).genesis_file.exists():
        missing = no_genesis_error(NetworkLayout(data))
        fail(missing.code, missing.message)
    if is_networked(data):
        fail("REPAIR_FAILED", "repair works on an embedded network; a networked peer node catches up from the blocks stream: stop it, move its blocks and state aside, start it")
    result = repair_network_peer(data, peer)
    emit(result, 0 if result["verify"]["ok"] else 1)


@app.command()
def bench(
    data: Path = typer.Option(Path("bench-data"), "--data", help="Network to benchmark (created if missing)."),
    transactions: int = typer.Option(2000, "--tx", min=1, help="Transactions per measured round."),
    rates: str = typer.Option("0", "--rates", help="Comma-separated send rates in tx/s per round; 0 = as fast as possible."),
    senders: int | None = typer.Option(None, "--senders", min=1, help="Transactions being endorsed and ordered at once: client threads, or tasks on the NATS loop with --networked (commits are awaited asynchronously); default 16, or 64 with --networked."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    report_dir: Path | None = typer.Option(None, "--report", help="Also write report.json and SVG charts here."),
    one_process: bool = typer.Option(False, "--one-process", help="Run every peer in this process even if the network file asks for peer processes."),
    workload: str | None = typer.Option(None, "--workload", help="Chaincode whose workload to run (default: the first, powerdata; metering has its own: bench: in the network file)."),
    networked: bool = typer.Option(False, "--networked", help="Benchmark the networked topology (NATS, 3 orderer nodes, 4 peer nodes), started for the run unless already running."),
) -> None:
    """Caliper-style benchmark: setup, then measured rounds at fixed send rates."""
    from ledger.tools.bench import NETWORKED_SENDERS_DEFAULT, SENDERS_DEFAULT
    from ledger.tools.benchrun import run_benchmark

    round_rates = parse_rates(rates)
    workers = senders if senders is not None else (NETWORKED_SENDERS_DEFAULT if networked else SENDERS_DEFAULT)
    layout = NetworkLayout(data)
    if not layout.genesis_file.exists():
        init_network(default_config_path(), data, admin_password=os.environ.get("GRIDLEDGER_ADMIN_PASSWORD") or None, networked=networked)
    if networked and not is_networked(data):
        fail("NOT_NETWORKED", f"{data} is an embedded network; benchmark the networked topology in a new directory")
    nodes = None
    if networked:
        from ledger.tools.netbench import start_nodes_unless_running

        nodes = start_nodes_unless_running(data)
    spec = load_spec(layout.network_file)
    try:
        net = open_network(data, peer_processes=spec.embedded.peer_processes and not one_process, nats_starting=nodes is not None)
    except BaseException:  # a refusal exits (SystemExit): the nodes this bench started go with it
        if nodes is not None:
            nodes.stop()
        raise
    try:
        if nodes is not None:
            from ledger.tools.netbench import wait_ready

            try:
                wait_ready(net)
            except LedgerError as exc:
                fail(exc.code, exc.message)
        chosen = next((cc for cc in spec.chaincodes if cc.name == (workload or net.chaincode_name)), None)
        if chosen is None:
            fail("UNKNOWN_CHAINCODE", f"no chaincode {workload!r} in the network file; it has: {', '.join(cc.name for cc in spec.chaincodes)}")
        elif chosen.bench:
            module_name, _, attr = chosen.bench.partition(":")
            runner = getattr(importlib.import_module(module_name), attr)
            report = runner(net, transactions, workers, quiet=as_json, report_dir=report_dir, rates=round_rates)
        elif chosen.name == net.chaincode_name:
            report = run_benchmark(net, transactions, round_rates, workers, quiet=as_json, report_dir=report_dir)
        else:
            fail("NO_WORKLOAD", f"chaincode {chosen.name} names no benchmark in the network file")
    finally:
        net.close()
        if nodes is not None:
            nodes.stop()
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    sys.exit(0)


def parse_rates(text: str) -> list[float]:
    """`--rates 300,700`: one finite rate per round, 0 (as fast as possible) up to RATE_MAX."""
    rates: list[float] = []
    for part in text.split(","):
        try:
            rate = float(part)
        except ValueError:
            raise typer.BadParameter(f"{part.strip()!r} is not a number", param_hint="--rates") from None
        if not 0 <= rate <= RATE_MAX:
            raise typer.BadParameter(f"{rate:g} is outside 0..{RATE_MAX:g} tx/s", param_hint="--rates")
        rates.append(rate)
    return rates


def _register_chaincode_commands() -> None:
    """Add the commands chaincodes ship (`commands:` of a chaincode in the default network file,
    e.g. metering's `meters` and `settle`), so this CLI names no contract itself."""
    try:
        spec = load_spec(default_config_path())
    except ConfigError:
        return
    for chaincode in spec.chaincodes:
        if chaincode.commands:
            module_name, _, attr = chaincode.commands.partition(":")
            getattr(importlib.import_module(module_name), attr)(app)


_register_chaincode_commands()

"""The networked layout's commands: `org create`, `channel create`, `node run`.

`org create` runs on an organization's own machine and makes its directory; the
`org.json` files it writes are all that `channel create` needs to build the genesis block.
`node run` starts one node from its directory (what a deployment across machines runs).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from ledger.core.errors import LedgerError
from ledger.node.init import build_genesis, write_genesis
from ledger.node.layout import OrgLayout
from ledger.node.orgs import OrgPlan, create_org_dir, load_org_public
from ledger.node.ports import PORT_MAX
from ledger.node.spec import BASE_PORT_MAX, BASE_PORT_MIN, default_config_path, load_spec

CONSOLE_ADMIN_WALLET_FILE = "console-admin.json"

org_app = typer.Typer(help="One organization's own key material.", no_args_is_help=True)
channel_app = typer.Typer(help="The channel's genesis block, from the organizations' public files.", no_args_is_help=True)
node_app = typer.Typer(help="Run one node of the networked layout from its directory.", no_args_is_help=True)


def _emit(document: dict[str, Any], exit_code: int = 0) -> None:
    typer.echo(json.dumps(document, ensure_ascii=False, indent=2))
    raise typer.Exit(exit_code)


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


@org_app.command("create")
def org_create(
    org: str = typer.Option(..., "--org", help="The organization's name, e.g. Org3."),
    out: Path = typer.Option(..., "--out", help="Its directory (created; must not hold an organization yet)."),
    peers: str = typer.Option("", "--peers", help="Comma-separated peer names, e.g. peer0,peer1."),
    orderers: str = typer.Option("", "--orderers", help="Comma-separated orderer node names."),
    admins: str = typer.Option("admin", "--admins", help="Comma-separated administrator names."),
    users: str = typer.Option("", "--users", help="Comma-separated client user names."),
    nats_servers: str = typer.Option("", "--nats", help="Comma-separated NATS server names this organization runs."),
    console: bool = typer.Option(False, "--console", help="Also a console node."),
    networked: bool = typer.Option(True, "--networked/--embedded", help="NATS credentials for every node (networked layout)."),
    tls: bool = typer.Option(False, "--tls", help="An X.509 TLS CA and a certificate per node."),
    host: list[str] = typer.Option([], "--host", help="Name or address the nodes' TLS certificates are valid for (repeatable)."),
) -> None:
    """Make one organization's CA, nodes, administrators and users in DIR; prints its public file."""
    from ledger.node.orgs import CONSOLE_NODE_NAME, node_id
    from ledger.node.spec import NODE_NAME

    try:
        every = [org, *_names(peers), *_names(orderers), *_names(admins), *_names(users), *_names(nats_servers)]
        bad = [name for name in every if not NODE_NAME.match(name)]
        if bad:
            raise LedgerError("CONFIG_INVALID", f"name {bad[0]!r}: use 1-32 letters, digits, '_' or '-', starting with a letter")
        node_names = [*_names(peers), *_names(orderers), *_names(nats_servers)] + ([CONSOLE_NODE_NAME] if console else [])
        plan = OrgPlan(
            org,
            peers=_names(peers),
            orderers=_names(orderers),
            admins=_names(admins),
            users=_names(users),
            nats_servers=_names(nats_servers),
            consoles=[CONSOLE_NODE_NAME] if console else [],
            networked=networked,
            tls=tls,
            tls_hosts={node_id(name, org): list(host) for name in node_names},
        )
        public = create_org_dir(OrgLayout(out), plan)
    except LedgerError as exc:
        _emit(exc.as_dict(), 1)
    _emit({"org": public.org, "dir": str(out), "public_file": str(OrgLayout(out).public_file), "nodes": [n["name"] for n in public.nodes]})


@org_app.command("console-admin")
def org_console_admin(
    org_dir: Path = typer.Option(..., "--org-dir", help="The approver organization's own directory (from org create: holds its CA)."),
    out: Path | None = typer.Option(None, "--out", help="Where to write the locked wallet (default: ORG_DIR/console-admin.json; an existing file is refused)."),
    admin_password: str | None = typer.Option(None, "--admin-password", envvar="GRIDLEDGER_ADMIN_PASSWORD", help="The console administrator's first password (generated and printed once if omitted)."),
) -> None:
    """The console's first administrator for a network built by separate members: run by the
    approver organization, whose CA issues it; the wallet (password-locked) goes to the console
    organization's DATA/console/wallets/<Org>/admin.json, where `init` puts it."""
    import secrets

    from ledger.core.identity import CertificateAuthority
    from ledger.node import wallet
    from ledger.node.init import write_console_admin_wallet
    from ledger.node.layout import NetworkLayout

    layout = OrgLayout(org_dir)
    target = out or org_dir / CONSOLE_ADMIN_WALLET_FILE
    try:
        if not layout.ca_file.is_file():
            raise LedgerError("UNKNOWN_USER", f"{org_dir} holds no organization CA ({layout.ca_file.name}): give the approver organization's own directory")
        if target.exists():
            raise LedgerError("FILE_EXISTS", f"{target} exists: move it away first (a new wallet is a new administrator identity)")
        ca = CertificateAuthority.from_json(layout.ca_file.read_text())
        generated = admin_password is None
        password = admin_password if admin_password is not None else secrets.token_urlsafe(12)
        wallet.check_password_strength(password)
        write_console_admin_wallet(ca, password, target)
    except (OSError, ValueError) as exc:
        _emit(LedgerError("CONFIG_INVALID", f"{org_dir}: {exc}").as_dict(), 1)
    except LedgerError as exc:
        _emit(exc.as_dict(), 1)
    place = NetworkLayout(Path("DATA")).console_admin_wallet(ca.org)
    out_doc: dict[str, Any] = {"org": ca.org, "wallet": str(target), "admin_user": "admin", "next": f"copy it to the console organization's {place}"}
    if generated:
        out_doc["admin_password"] = password
        out_doc["note"] = "the console administrator's password is shown once: keep it"
    _emit(out_doc)


def refuse_existing_genesis(out: Path) -> None:
    """FILE_EXISTS when `out` exists. Why: a genesis block is built with its own timestamp, so
    a second `channel create` is another channel (another hash); writing it over the one the
    members were handed (or over a DATA's genesis.block) silently replaced it, and nodes
    given the new one would not accept the others' blocks."""
    if out.exists() or out.is_symlink():
        raise LedgerError("FILE_EXISTS", f"{out} exists: a new genesis block is a new channel that the members' nodes would not share; move it away first, or give another --out")


@channel_app.command("create")
def channel_create(
    org_dirs: list[Path] = typer.Option(..., "--org", help="An organization's directory or its org.json (repeat for each member)."),
    out: Path = typer.Option(Path("genesis.block"), "--out", help="Where to write the genesis block."),
    config: Path = typer.Option(None, "--config", help="Network file with the channel, batch and chaincode settings (default: network-config/network.yaml)."),
) -> None:
    """Build the channel's genesis block from the organizations' public files only."""
    try:
        spec = load_spec(config or default_config_path())
        orgs = [load_org_public(path) for path in org_dirs]
        names = [o.org for o in orgs]
        if len(set(names)) != len(names):
            raise LedgerError("CONFIG_INVALID", "an organization is given twice")
        expected = spec.members
        missing, unknown = sorted(set(expected) - set(names)), sorted(set(names) - set(expected))
        if missing or unknown:
            raise LedgerError("CONFIG_INVALID", f"the network file's members are {expected}: missing {missing}, not in it {unknown}")
        refuse_existing_genesis(out)
        genesis = build_genesis(spec, orgs)
        write_genesis(out, genesis)
    except LedgerError as exc:
        _emit(exc.as_dict(), 1)
    orderers = [f"{n['name']}.{o.org}" for o in orgs for n in o.nodes if n["role"] == "orderer"]
    _emit({"genesis": str(out), "channel": spec.channel, "orgs": names, "orderers": orderers})


@node_app.command("configure")
def node_configure(
    data: Path = typer.Option(..., "--data", help="This organization's directory of the channel: network.yaml, genesis.block, orgs/<Own>/ (from org create), orgs/<Other>/org.json."),
    base_port: int | None = typer.Option(None, "--base-port", min=BASE_PORT_MIN, max=BASE_PORT_MAX, help="First port on one machine (default: the network file's networked.base_port); the same for every member."),
    route_secret: Path | None = typer.Option(None, "--route-secret", help="The NATS servers' shared route secret (default DATA/nats-routes.secret; made when missing: copy it to the other members that run a server)."),
) -> None:
    """Configure this organization's own nodes from the others' public files (no other private key needed)."""
    from ledger.node.orgconfigure import configure_own_nodes

    try:
        done = configure_own_nodes(data, base_port=base_port, route_secret=route_secret)
    except LedgerError as exc:
        _emit(exc.as_dict(), 1)
    _emit(
        {
            "orgs": done.orgs,
            "nodes": done.nodes,
            "route_secret": str(done.route_secret) if done.route_secret else None,
            "route_secret_created": done.route_secret_created,
            "next": configure_next_step(data, done.nodes),
        }
    )


NO_NODE_NEXT = "this organization runs no node: run the CLI (invoke, query, status, verify) with --data {data}; it reaches the others' NATS servers with its own key"


def configure_next_step(data: Path, nodes: list[str]) -> str:
    """What to do after `node configure`. Why not always "node run for each node": a member
    without nodes (the approver) was told to run nodes it does not have."""
    if not nodes:
        return NO_NODE_NEXT.format(data=data)
    return "gridledger node run --home DIR for each node (NATS servers first)"


@node_app.command("run")
def node_run(
    home: Path = typer.Option(..., "--home", help="The node's directory (holds node.json)."),
    console_host: str | None = typer.Option(None, "--host", help="Console nodes: the address to listen on instead of node.json's."),
    console_port: int | None = typer.Option(None, "--port", min=0, max=PORT_MAX, help="Console nodes: the port to listen on instead of node.json's."),
) -> None:
    """Run one node (NATS server, orderer, peer or console) until it stops; fail-stop."""
    from ledger.node.noderun import run_node

    try:
        code = run_node(home, console_host=console_host, console_port=console_port)
    except LedgerError as exc:
        _emit(exc.as_dict(), 1)
    raise typer.Exit(code)

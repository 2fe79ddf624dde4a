"""`gridledger status` of a networked layout: every node's process and progress.

A node is alive when the pid in its directory runs and it answers: a NATS server's /healthz,
an orderer's or peer's heartbeat (`pid` stays set while the process runs, alive or not);
orderers' and peers' height and commit hash come from the heartbeats they
publish on NATS (read with the organization's CLI client credentials), so the answer is
the same from any machine that reaches the NATS cluster.
"""

from __future__ import annotations

import asyncio
import ssl
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec

from ledger.core.errors import ConfigError
from ledger.node.layout import ORG_PUBLIC_FILE, NetworkLayout, NodeLayout
from ledger.node.natsconf import client_tls_context
from ledger.node.netinit import place
from ledger.node.nodeconf import load_node_config
from ledger.node.noderun import read_pid
from ledger.node.orgs import NATS_CLIENT_SEED_FILE, load_org_public
from ledger.node.spec import load_spec
from ledger.node.supervisor import HEALTH_TIMEOUT_S, START_ORDER, nats_healthy, networked_homes, pid_alive
from ledger.transport.nats_client import refused_everywhere
from ledger.transport.nats_cluster import ServerAddress, http_ok
from ledger.transport.subjects import ChannelSubjects

HEARTBEAT_KINDS = ("orderer", "peer")  # the nodes that publish heartbeats
HEARTBEAT_LISTEN_S = 2.5  # a little over two heartbeat periods
CONNECT_TIMEOUT_S = 3.0
CONNECT_TOTAL_S = 8.0  # all servers tried: a stopped consortium is reported, not waited for


def client_options(layout: NetworkLayout, org: str) -> dict[str, Any]:
    """`nats.connect` keyword arguments for organization `org`'s CLI client: the servers its
    node directories connect to, or, in a member's DATA that holds none of its nodes (the
    approver of a member-built consortium), the network file's servers (`placed_urls`)."""
    homes = [p.parent for p in layout.orgs_dir.glob("*/nodes/*/node.json")]
    client_home = next((h for h in sorted(homes) if load_node_config(h).nats is not None), None)
    org_dir = layout.org_dir(org)
    if client_home is None:
        return _options_from_network_file(layout, org)
    nats = load_node_config(client_home).nats
    assert nats is not None
    options: dict[str, Any] = {"servers": nats.urls, "nkeys_seed": str(org_dir / NATS_CLIENT_SEED_FILE), "name": f"cli.{org}"}
    if nats.tls_ca_file:
        ca = NodeLayout(client_home).tls_ca_bundle
        options["tls"] = client_tls_context(ca.parent, ca.name, str(org_dir / "tls" / "client.pem"), str(org_dir / "tls" / "client.key"))
    return options


def placed_urls(layout: NetworkLayout) -> list[str]:
    """The NATS servers' client urls as the network file places them (its base port): what
    `node configure` gave every member's nodes. [] when the file cannot be read."""
    try:
        return place(load_spec(layout.network_file)).nats_urls
    except ConfigError:
        return []


def _options_from_network_file(layout: NetworkLayout, org: str) -> dict[str, Any]:
    """A node-less member's CLI client: the network file's servers, the organization's own
    CLI nkey, and with TLS a trust bundle of every organization's published TLS CA."""
    seed = layout.org_dir(org) / NATS_CLIENT_SEED_FILE
    urls = placed_urls(layout)
    if not urls or not seed.is_file():
        return {}
    options: dict[str, Any] = {"servers": urls, "nkeys_seed": str(seed), "name": f"cli.{org}"}
    if load_spec(layout.network_file).networked.tls:
        bundle = "".join(load_org_public(f).tls_ca_pem for f in sorted(layout.orgs_dir.glob(f"*/{ORG_PUBLIC_FILE}")))
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=bundle or None)
        tls_dir = layout.org_dir(org) / "tls"
        context.load_cert_chain(str(tls_dir / "client.pem"), str(tls_dir / "client.key"))
        options["tls"] = context
    return options


def client_org(layout: NetworkLayout, preferred: str) -> str | None:
    """Whose CLI credentials a DATA directory holds: `preferred` (the console organization)
    unless this is a member's own DATA, where the one organization whose NATS client key is
    here is used; None when no organization's is. A DATA holding several organizations' keys
    (an `init` directory) never falls back to another one's: a missing console key is then a
    fault to report (the connect names it), not to work around."""
    held = sorted(p.parent.name for p in layout.orgs_dir.glob(f"*/{NATS_CLIENT_SEED_FILE}"))
    if not held:
        return None
    return held[0] if len(held) == 1 else preferred


async def _listen_heartbeats(options: dict[str, Any], subject: str, listen_s: float) -> dict[str, dict[str, Any]]:
    import nats

    beats: dict[str, dict[str, Any]] = {}

    async def quiet(e: Exception) -> None:
        pass

    if refused_everywhere(list(options.get("servers", []))):  # nothing listens: nothing to hear, say so now
        return beats
    try:
        # Bounded as a whole: with every server down nats-py can keep trying the server list
        # (measured: `status` of a stopped consortium hung > 60 s instead of reporting it).
        connecting = nats.connect(**options, connect_timeout=CONNECT_TIMEOUT_S, max_reconnect_attempts=0, allow_reconnect=False, error_cb=quiet)
        nc = await asyncio.wait_for(connecting, CONNECT_TOTAL_S)
    except Exception:  # no NATS server reachable: nothing is heard
        return beats

    async def on_beat(msg: Any) -> None:
        try:
            beat = msgspec.msgpack.decode(msg.data)
        except msgspec.DecodeError:
            return
        if isinstance(beat, dict) and isinstance(beat.get("name"), str):
            beats[beat["name"]] = beat

    try:
        await nc.subscribe(subject, cb=on_beat)
        await asyncio.sleep(listen_s)
    finally:
        await nc.close()
    return beats


def _console_address(home: Path, alive: bool) -> str | None:
    """Where the running console listens (it writes this at start), None when not running."""
    if not alive:
        return None
    try:
        return NodeLayout(home).console_address_file.read_text().strip() or None
    except OSError:
        return None


def _progress(beat: dict[str, Any]) -> tuple[int, str]:
    """A heartbeat's height and commit hash (hex)."""
    raw = beat.get("commit_hash", b"")
    return int(beat.get("height", 0)), raw.hex() if isinstance(raw, bytes) else str(raw)


def members_elsewhere(layout: NetworkLayout, local: set[str]) -> list[tuple[str, str]]:
    """(name, kind) of every orderer and peer the members' `org.json` files name that has no
    directory here. Why: a member's own DATA (`org create` + `node configure`) holds only its
    own nodes; without these its `status` listed them alone and said in_sync for its own
    peers while another member's were down. They are alive when heard (HEARTBEAT_KINDS)."""
    found: list[tuple[str, str]] = []
    for public_file in sorted(layout.orgs_dir.glob(f"*/{ORG_PUBLIC_FILE}")):
        try:
            public = load_org_public(public_file)
        except ConfigError:
            continue  # node configure names a damaged org.json; status reports what it can
        found += [(u["node"], u["kind"]) for u in public.nats_users if u.get("kind") in HEARTBEAT_KINDS and u.get("node") not in local]
    return found


def nats_elsewhere(layout: NetworkLayout, local: set[str], client_urls: list[str]) -> list[ServerAddress]:
    """The network file's NATS servers that have no directory here, at the addresses every
    member's nodes connect to. Why: a member's DATA holds only its own servers, so its
    `status` listed none of another member's and an operator could not see a quorum lost.
    The addresses come from the same placement `node configure` used (the network file, at
    the base port this member's nodes were configured with: its first server's client port
    in their urls); anything that does not fit is left out, never guessed."""
    try:
        spec = load_spec(layout.network_file)
        base_port = int(urlsplit(client_urls[0]).port or 0) if client_urls else None
        placement = place(spec, base_port)
    except (ConfigError, ValueError):
        return []
    if placement.nats_urls != client_urls:
        return []  # configured from another file or layout: the addresses would be guesses
    return [address for _, address in placement.nats if address.name not in local]


def _probe_all(addresses: list[ServerAddress]) -> list[bool]:
    """Each server's /healthz, all at once (a far host that does not answer costs one timeout, not one each)."""
    if not addresses:
        return []
    with ThreadPoolExecutor(max_workers=len(addresses)) as pool:
        return list(pool.map(lambda a: http_ok(f"{a.monitor_url}/healthz", HEALTH_TIMEOUT_S), addresses))


def networked_status(data: Path, *, listen_s: float = HEARTBEAT_LISTEN_S) -> dict[str, Any]:
    """The `status --json` document: `nodes` and `in_sync`."""
    layout = NetworkLayout(data)
    homes = networked_homes(layout) if any(layout.orgs_dir.glob("*/nodes/*/node.json")) else []  # none: a node-less member
    configs = [load_node_config(h) for h in homes]
    spec = load_spec(layout.network_file)
    channel = spec.channel
    own_org = next((c.org for c in configs if c.kind == "console"), configs[0].org if configs else None) or client_org(layout, spec.console.org)
    options = client_options(layout, own_org) if own_org else {}
    beats = asyncio.run(_listen_heartbeats(options, ChannelSubjects(channel).heartbeat_all, listen_s)) if options else {}
    nodes: list[dict[str, Any]] = []
    for home, config in zip(homes, configs):
        pid = read_pid(home)
        alive = running = pid_alive(pid)
        height: int | None = None
        commit_hash: str | None = None
        if config.kind == "nats":
            # a server of another machine (no pid file here) lives when its monitoring port answers
            alive = (alive or pid is None) and nats_healthy(config)
            server = msgspec.json.decode((home / (config.server_config_file or "")).read_bytes())
            address = f"nats://{server['host']}:{server['port']}"
        elif config.kind == "console":
            address = _console_address(home, alive) or f"http://{config.console_host}:{config.console_port}"
        else:
            address = f"{config.health_host}:{config.health_port}"
            beat = beats.get(config.name)
            if beat is not None:
                height, commit_hash = _progress(beat)
                alive = alive or pid is None  # a node on another machine: its heartbeat says it lives
            else:
                # Its process runs but it is not heard: hung (SIGSTOP) or cut off from every NATS
                # server. Before, the running pid alone made it alive (`alive: true`,
                # `height: null` for as long as it hung, endorsing and committing nothing), while
                # a NATS server was judged by its /healthz. Its pid is still given below.
                alive = False
        nodes.append({"name": config.name, "kind": config.kind, "pid": pid if running or alive else None, "address": address, "alive": alive, "height": height, "commit_hash": commit_hash})
    client_urls = next((c.nats.urls for c in configs if c.nats is not None), None)
    client_urls = placed_urls(layout) if client_urls is None else client_urls
    remote_nats = nats_elsewhere(layout, {c.name for c in configs}, client_urls)
    for server_address, healthy in zip(remote_nats, _probe_all(remote_nats)):
        nodes.append({"name": server_address.name, "kind": "nats", "pid": None, "address": server_address.client_url, "alive": healthy, "height": None, "commit_hash": None})
    for name, kind in members_elsewhere(layout, {c.name for c in configs}):
        beat = beats.get(name)
        height, commit_hash = (None, None) if beat is None else _progress(beat)
        nodes.append({"name": name, "kind": kind, "pid": None, "address": None, "alive": beat is not None, "height": height, "commit_hash": commit_hash})
    order = {kind: i for i, kind in enumerate(START_ORDER)}
    nodes.sort(key=lambda n: (order.get(n["kind"], len(order)), n["name"]))
    peers = [n for n in nodes if n["kind"] == "peer"]
    in_sync = bool(peers) and all(p["alive"] for p in peers) and len({(p["height"], p["commit_hash"]) for p in peers}) == 1 and peers[0]["height"] is not None
    return {"channel": channel, "networked": True, "nodes": nodes, "in_sync": in_sync}

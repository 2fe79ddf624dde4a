"""NATS server configuration of the networked mode: users, subject permissions, cluster.

Every node connects with its own nkey; what it may publish and subscribe to is decided
here from its kind, with the subject names of `ChannelSubjects`, so a permission cannot
drift from the subject it guards:

- orderers answer `broadcast`, own both streams and are the only ones to publish to the
  envelopes and blocks subjects or to read the envelopes stream;
- peers answer their own request subjects, publish their own events and heartbeats and
  read (never write) the blocks stream;
- consoles and CLI clients (kind "console", "client") broadcast, call peers, read events
  and the blocks stream.

Each server gets a JSON config (nats-server reads JSON as its config syntax) with paths
relative to its node directory, so the directory can be copied to another machine.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.core.errors import ConfigError
from ledger.node.nodeconf import NodeConfig
from ledger.transport import nats_cluster
from ledger.transport.nats_cluster import ServerAddress
from ledger.transport.subjects import ChannelSubjects

JETSTREAM_DIR = "jetstream"  # the server's JetStream store, relative to its node directory
JS_API = "$JS.API"
INBOX_ALL = "_INBOX.>"
ROUTE_USER = "route"
MAX_PAYLOAD_CAP = 64 << 20  # nats-server's hard limit
MAX_PAYLOAD_HEADROOM = 1 << 20  # headers and block framing beyond the batch limits
TLS_HANDSHAKE_TIMEOUT_S = 5.0

RECONNECT_WAIT_S = 0.25
CONNECT_TIMEOUT_S = 5.0
# A node whose server is cut off (no answer, no close) notices it after this many
# unanswered pings this far apart (~9-12 s) and reconnects to another server of the cluster.
PING_INTERVAL_S = 3
PINGS_OUTSTANDING_MAX = 3



def _subtree(subject: str) -> list[str]:
    return [subject, f"{subject}.>"]


def _read_blocks(s: ChannelSubjects) -> list[str]:
    """JetStream API calls that read the blocks stream and nothing else."""
    stream = s.blocks_stream
    return [
        f"{JS_API}.INFO",
        f"{JS_API}.STREAM.NAMES",
        f"{JS_API}.STREAM.INFO.{stream}",
        f"{JS_API}.STREAM.MSG.GET.{stream}",
        f"{JS_API}.DIRECT.GET.{stream}",
        f"{JS_API}.DIRECT.GET.{stream}.>",
        f"{JS_API}.CONSUMER.CREATE.{stream}",
        f"{JS_API}.CONSUMER.CREATE.{stream}.>",
        f"{JS_API}.CONSUMER.DURABLE.CREATE.{stream}.>",
        f"{JS_API}.CONSUMER.INFO.{stream}.>",
        f"{JS_API}.CONSUMER.DELETE.{stream}.>",
        f"{JS_API}.CONSUMER.MSG.NEXT.{stream}.>",
        f"$JS.ACK.{stream}.>",
        f"$JS.FC.{stream}.>",
    ]


def _orderer_only(s: ChannelSubjects) -> list[str]:
    """Subjects only orderers may publish to: the streams' subjects and the envelopes
    stream's consumers (so no one else reads unordered envelopes)."""
    env = s.envelopes_stream
    return [
        *_subtree(s.envelopes),
        *_subtree(s.blocks),
        f"{JS_API}.CONSUMER.*.{env}",
        f"{JS_API}.CONSUMER.*.{env}.>",
        f"{JS_API}.CONSUMER.DURABLE.CREATE.{env}.>",
        f"{JS_API}.STREAM.*.{env}",
        f"{JS_API}.DIRECT.GET.{env}",
        f"{JS_API}.DIRECT.GET.{env}.>",
        f"{JS_API}.STREAM.CREATE.>",
        f"{JS_API}.STREAM.UPDATE.>",
        f"{JS_API}.STREAM.DELETE.>",
        f"{JS_API}.STREAM.PURGE.>",
    ]


def permissions(kind: str, node_id: str, subjects: ChannelSubjects) -> dict[str, Any]:
    """The `permissions` block of one node's user entry."""
    s = subjects
    if kind == "orderer":
        return {
            "publish": {"allow": [*_subtree(s.envelopes), *_subtree(s.blocks), f"{JS_API}.>", "$JS.ACK.>", "$JS.FC.>", s.heartbeat(node_id)]},
            "subscribe": {"allow": [s.broadcast, s.broadcast_batch, INBOX_ALL, s.heartbeat_all]},
            "allow_responses": True,
        }
    if kind == "peer":
        return {
            "publish": {"allow": [s.events(node_id), s.heartbeat(node_id), *_read_blocks(s)], "deny": _orderer_only(s)},
            "subscribe": {"allow": [s.peer_all(node_id), INBOX_ALL, s.heartbeat_all]},
            "allow_responses": True,
        }
    if kind in ("console", "client"):
        calls = [s.peer("*", call) for call in ("endorse", "endorse_batch", "query", "status")]
        return {
            "publish": {"allow": [s.broadcast, s.broadcast_batch, *calls, s.heartbeat(node_id), *_read_blocks(s)], "deny": _orderer_only(s)},
            "subscribe": {"allow": [INBOX_ALL, s.events_all, s.heartbeat_all]},
        }
    raise ConfigError(f"node {node_id}: kind {kind!r} has no NATS permissions")


@dataclass(frozen=True, slots=True)
class NatsUser:
    """One NATS user: a node (or an organization's CLI client) and its public nkey."""

    node_id: str
    kind: str
    nkey: str


def max_payload(absolute_max_bytes: int, preferred_max_bytes: int) -> int:
    """Large enough for the biggest block the batch limits allow."""
    return min(MAX_PAYLOAD_CAP, absolute_max_bytes + preferred_max_bytes + MAX_PAYLOAD_HEADROOM)


def server_config(
    me: ServerAddress,
    cluster: list[ServerAddress],
    users: list[NatsUser],
    subjects: ChannelSubjects,
    *,
    route_password: str,
    payload_max: int,
    tls: bool,
) -> dict[str, Any]:
    """The config of server `me`: the cluster's base (`nats_cluster.server_config`: JetStream
    file store synced on every write, routes), with `access_config` merged in and paths
    relative to the node directory."""
    access = access_config(me, cluster, users, subjects, route_password=route_password, payload_max=payload_max, tls=tls)
    return nats_cluster.server_config(me, cluster, Path(JETSTREAM_DIR), access, cluster_name=f"gl_{subjects.channel}")


def access_config(
    me: ServerAddress,
    cluster: list[ServerAddress],
    users: list[NatsUser],
    subjects: ChannelSubjects,
    *,
    route_password: str,
    payload_max: int,
    tls: bool,
) -> dict[str, Any]:
    """Who may connect and do what: one nkey user per node with its permissions, routes
    authenticated with the cluster's password, TLS (client certificates verified)."""
    extra: dict[str, Any] = {
        "max_payload": payload_max,
        "authorization": {"users": [{"nkey": u.nkey, "permissions": permissions(u.kind, u.node_id, subjects)} for u in users]},
    }
    if len(cluster) > 1:
        routes = [f"nats-route://{ROUTE_USER}:{route_password}@{peer.host}:{peer.cluster_port}" for peer in cluster if peer.name != me.name]
        extra["cluster"] = {"authorization": {"user": ROUTE_USER, "password": route_password}, "routes": routes}
    if tls:
        block = {"cert_file": "tls/node.pem", "key_file": "tls/node.key", "ca_file": "tls/ca.pem", "verify": True, "timeout": TLS_HANDSHAKE_TIMEOUT_S}
        extra["tls"] = dict(block)
        if "cluster" in extra:
            extra["cluster"]["tls"] = dict(block)
    return extra


def client_tls_context(home: Path, ca_file: str, cert_file: str | None, key_file: str | None) -> ssl.SSLContext:
    """A TLS context that trusts the organizations' TLS CAs and presents the node's cert."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(home / ca_file))
    if cert_file and key_file:
        context.load_cert_chain(str(home / cert_file), str(home / key_file))
    return context


def connect_options(home: Path, urls: list[str], nkey_seed_file: str, tls_ca_file: str | None, tls_cert_file: str | None, tls_key_file: str | None) -> dict[str, Any]:
    """Keyword arguments of `nats.connect` for a node whose directory is `home`: its own
    nkey, and TLS when the layout made certificates."""
    seed = home / nkey_seed_file
    if not seed.exists():
        raise ConfigError(f"{seed} is missing: the node's NATS credentials are made at init")
    options: dict[str, Any] = {"servers": urls, "nkeys_seed": str(seed)}
    if tls_ca_file:
        options["tls"] = client_tls_context(home, tls_ca_file, tls_cert_file, tls_key_file)
    return options


def node_connect_options(home: Path, config: NodeConfig, **extra: Any) -> dict[str, Any]:
    """`nats.connect` keyword arguments for the node in `home`: own credentials, TLS if the
    layout made certificates, reconnecting forever."""
    if config.nats is None:
        raise ConfigError(f"{config.name}: node.json has no nats section")
    n = config.nats
    options = connect_options(home, n.urls, n.nkey_seed_file, n.tls_ca_file, n.tls_cert_file, n.tls_key_file)
    options.update(
        name=config.name,
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=RECONNECT_WAIT_S,
        connect_timeout=CONNECT_TIMEOUT_S,
        ping_interval=PING_INTERVAL_S,
        max_outstanding_pings=PINGS_OUTSTANDING_MAX,
    )
    options.update(extra)
    return options

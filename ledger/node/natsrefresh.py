"""Bring a NATS server config's user permissions up to date with this build's subjects.

A server config is written once, at init or `node configure`, with each user's permissions
from `natsconf.permissions`. A later build that adds a subject (the batched
`endorse_batch` / `broadcast_batch` requests, say) would find the server refusing it with
a permissions violation, and its gateways timing out, until an operator re-ran init. So a
NATS node refreshes its own config at start: each user whose permissions this build
generated is recognised (its kind and node token read back from them) and given the
current ones; anything else in the file, and any user it does not recognise, is left as
it is. The file is rewritten as init writes it (`nats_cluster.write_server_config`:
atomically, owner-only, since it holds the route password).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import structlog

from ledger.node.natsconf import permissions
from ledger.transport.nats_cluster import write_server_config
from ledger.transport.subjects import ChannelSubjects

log = structlog.get_logger("natsrefresh")

CLIENT_KIND = "client"  # consoles and CLI clients share one set of permissions


def _allowed(entry: dict[str, Any], direction: str) -> list[str]:
    perms = entry.get("permissions")
    block = perms.get(direction) if isinstance(perms, dict) else None
    allow = block.get("allow") if isinstance(block, dict) else None
    return [s for s in allow if isinstance(s, str)] if isinstance(allow, list) else []


def recognised(entry: dict[str, Any], subjects: ChannelSubjects) -> tuple[str, str] | None:
    """(kind, node token) of a user whose permissions `natsconf.permissions` generated, or
    None. The token comes from the one heartbeat subject the user may publish to; the kind
    from what it subscribes to (orderers `broadcast`, a peer its own request subtree,
    consoles and clients the commit events)."""
    heartbeat_prefix = subjects.heartbeat("")
    tokens = [s[len(heartbeat_prefix) :] for s in _allowed(entry, "publish") if s.startswith(heartbeat_prefix) and s != subjects.heartbeat_all]
    if len(tokens) != 1 or not tokens[0] or "." in tokens[0] or "*" in tokens[0] or ">" in tokens[0]:
        return None
    token = tokens[0]
    subscribe = _allowed(entry, "subscribe")
    if subjects.broadcast in subscribe:
        return "orderer", token
    if subjects.peer_all(token) in subscribe:
        return "peer", token
    if subjects.events_all in subscribe:
        return CLIENT_KIND, token
    return None


def refreshed(config: dict[str, Any], subjects: ChannelSubjects) -> tuple[dict[str, Any], int, list[str]]:
    """`config` with every recognised user's permissions made current: (the config, how
    many users changed, the nkeys of users not recognised and left untouched)."""
    authorization = config.get("authorization", {})
    users = authorization.get("users", []) if isinstance(authorization, dict) else None
    if not isinstance(users, list):
        raise ValueError("authorization.users is not a list")
    changed, unknown, out = 0, [], []
    for entry in users:
        found = recognised(entry, subjects) if isinstance(entry, dict) else None
        if found is None:
            unknown.append(str(entry.get("nkey", "?")) if isinstance(entry, dict) else "?")
            out.append(entry)
            continue
        current = permissions(found[0], found[1], subjects)
        if entry.get("permissions") != current:
            changed += 1
            entry = {**entry, "permissions": current}
        out.append(entry)
    if not changed:
        return config, 0, unknown
    return {**config, "authorization": {**config["authorization"], "users": out}}, changed, unknown


def refresh_server_config(path: Path, channel: str) -> int:
    """Rewrite the server config at `path` with current permissions if any are out of date;
    how many users changed. OSError or ValueError (bad JSON) for the caller to report."""
    config = json.loads(path.read_text())
    if not isinstance(config, dict):
        raise ValueError(f"{path} is not a JSON object")
    new, changed, unknown = refreshed(config, ChannelSubjects(channel))
    if unknown:
        log.warning("nats_users_not_recognised", path=str(path), nkeys=unknown)
    if not changed:
        return 0
    write_server_config(path, new)
    log.info("nats_permissions_refreshed", path=str(path), users=changed)
    return changed

"""A NATS node brings its server config's permissions up to date at start.

A network laid out by an older build has server configs whose users lack the subjects a
newer build added (the batched `endorse_batch` and `broadcast_batch` requests): the server
refused the gateway's batched calls with a permissions violation and every transaction
timed out. `gridledger node run` of a NATS node now refreshes its own config first
(`ledger.node.natsrefresh`), leaving everything else in the file and any user it does not
recognise as they were.
"""

from __future__ import annotations

import asyncio
import copy
import json
import shutil
import stat
from pathlib import Path
from typing import Any

import nats
from nodekit import NodeProcesses, cli_json, init_networked, node_homes, wait_for
from peerkit import options, publish_blocks

from ledger.node.layout import NetworkLayout
from ledger.node.natsrefresh import recognised, refresh_server_config
from ledger.node.network import Network
from ledger.node.nodeconf import load_node_config
from ledger.transport.nats_batch import decode_batch, encode_batch
from ledger.transport.subjects import ChannelSubjects

S = ChannelSubjects("gridchannel")
NEW_SUBJECT_MARKS = ("endorse_batch", "broadcast_batch")  # what the older build's configs lacked
REQUEST_S = 3.0


def server_configs(data: Path) -> list[Path]:
    paths = []
    for home in node_homes(data, "nats"):
        config = load_node_config(home)
        assert config.server_config_file
        paths.append(home / config.server_config_file)
    return paths


def as_older_build(config: dict[str, Any]) -> dict[str, Any]:
    """The config as a build before the batched requests wrote it."""
    old = copy.deepcopy(config)
    for user in old["authorization"]["users"]:
        for direction in ("publish", "subscribe"):
            block = user["permissions"][direction]
            block["allow"] = [s for s in block["allow"] if not any(mark in s for mark in NEW_SUBJECT_MARKS)]
    return old


def downgrade(data: Path) -> dict[Path, dict[str, Any]]:
    """Rewrite every server config as the older build had it; the current ones by path."""
    current = {}
    for path in server_configs(data):
        config = json.loads(path.read_text())
        current[path] = config
        path.write_text(json.dumps(as_older_build(config), indent=2, sort_keys=True))
        path.chmod(0o644)  # whatever the mode was, the rewrite is owner-only
    return current


def test_an_older_config_gets_the_current_permissions_and_nothing_else_changes(tmp_path: Path) -> None:
    data = init_networked(tmp_path)
    current = downgrade(data)
    assert len(current) == 3
    for path, want in current.items():
        before = json.loads(path.read_text())
        assert before != want, "the downgrade changed nothing: the test would prove nothing"
        kinds = [recognised(user, S) for user in before["authorization"]["users"]]
        assert all(kinds), f"a generated user was not recognised: {kinds}"
        counted = {kind: sum(1 for k in kinds if k and k[0] == kind) for kind in ("orderer", "peer", "client")}
        assert counted["orderer"] == 3 and counted["peer"] == 4 and counted["client"] >= 1, counted
        changed = refresh_server_config(path, S.channel)
        outdated = sum(1 for old, new in zip(before["authorization"]["users"], want["authorization"]["users"], strict=True) if old != new)
        assert changed == outdated and outdated >= 4, (changed, outdated)  # orderers and clients lacked the batch subjects
        assert json.loads(path.read_text()) == want, "the refreshed config differs from what init writes today"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600  # owner-only: it holds the route password


def test_an_up_to_date_config_is_not_rewritten(tmp_path: Path) -> None:
    data = init_networked(tmp_path)
    for path in server_configs(data):
        text, mtime = path.read_text(), path.stat().st_mtime_ns
        assert refresh_server_config(path, S.channel) == 0
        assert path.read_text() == text and path.stat().st_mtime_ns == mtime


def test_a_user_it_does_not_recognise_is_left_untouched(tmp_path: Path) -> None:
    data = init_networked(tmp_path)
    path = server_configs(data)[0]
    config = as_older_build(json.loads(path.read_text()))
    foreign = {"nkey": "UFOREIGNUSER", "permissions": {"publish": {"allow": ["ops.>"]}, "subscribe": {"allow": ["ops.>"]}}}
    config["authorization"]["users"].append(foreign)
    path.write_text(json.dumps(config))
    assert refresh_server_config(path, S.channel) > 0
    users = json.loads(path.read_text())["authorization"]["users"]
    assert foreign in users
    assert all(recognised(u, S) for u in users if u["nkey"] != foreign["nkey"])


def test_nats_started_from_older_configs_lets_a_console_make_batched_calls(tmp_path: Path, nodes: NodeProcesses) -> None:
    data = init_networked(tmp_path)
    layout = NetworkLayout(data)
    scratch = tmp_path / "genesis-copy"
    shutil.copytree(data, scratch)
    with Network.open(scratch, networked=False) as net:
        genesis = list(net.orderer.blocks_from(0))[:1]
    downgrade(data)
    nodes.start_nats(data)  # `node run` of each NATS node refreshes its config, then execs nats-server
    orderer, peer, console = layout.node_dir("orderer0.OrdererOrg"), layout.node_dir("peer0.Org1"), layout.node_dir("console.Org1")
    asyncio.run(publish_blocks(orderer, genesis, create=True))
    nodes.start(peer)

    async def status_answered() -> bool:
        nc = await nats.connect(**options(console))
        try:
            await nc.request(S.peer("peer0.Org1", "status"), b"", timeout=1.0)
            return True
        except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
            return False
        finally:
            await nc.close()

    wait_for(lambda: asyncio.run(status_answered()), what="peer0.Org1 answers status")
    errors: list[Exception] = []

    async def batched() -> list[bytes]:
        async def on_error(e: Exception) -> None:
            errors.append(e)

        nc = await nats.connect(**{**options(console), "error_cb": on_error})
        try:
            reply = await nc.request(S.peer("peer0.Org1", "endorse_batch"), encode_batch([]), timeout=REQUEST_S)
            return decode_batch(reply.data)
        finally:
            await nc.close()

    assert asyncio.run(batched()) == []  # the peer answered the console's batch: the server let it through
    assert not [e for e in errors if "permissions violation" in str(e).lower()], errors


def test_a_config_it_cannot_read_stops_the_node_with_a_clear_error(tmp_path: Path) -> None:
    data = init_networked(tmp_path)
    path = server_configs(data)[0]
    tried = 0
    for broken in ('{"broken', "[1]", '{"authorization": "nobody"}', '{"authorization": {"users": 7}}'):
        path.write_text(broken)
        code, reply = cli_json("node", "run", "--home", str(path.parent))
        assert code == 1 and reply["code"] == "CONFIG_INVALID" and str(path) in reply["message"], (broken, code, reply)
        assert path.read_text() == broken, "a config it could not read was rewritten"
        tried += 1
    print("unreadable configs refused:", tried)

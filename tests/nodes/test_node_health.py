"""Every networked node answers `GET /healthz` on its node.json `health_host:health_port`.

Real NATS servers, orderer, peer and console nodes: each answers JSON with `status`,
`role`, `name` and `height` (peers their commit hash, orderers both streams' leader and
replicas, the console the peers it hears), HTTP 200 when ok; with every NATS server
killed each says `degraded` with HTTP 503 and why; with the servers back (from disk) they
are ok again at the same height. Another path is a JSON 404.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from nodekit import CLI, NodeProcesses, free_base_port, health_probe, http_ok, init_networked, monitor_url, node_homes, wait_for

from ledger.node.layout import NetworkLayout
from ledger.node.nodeconf import NodeConfig, load_node_config
from ledger.transport.subjects import ChannelSubjects

SUBJECTS = ChannelSubjects("gridchannel")

HEALTH_WAIT_S = 120.0  # a loaded machine: startup, reconnects and stream elections take time


def wait_health(configs: list[NodeConfig], condition: Any, what: str) -> dict[str, tuple[int, dict[str, Any]]]:
    seen: dict[str, tuple[int, dict[str, Any]]] = {}

    def all_hold() -> bool:
        seen.update({c.name: health_probe(c) for c in configs})
        return all(condition(*seen[c.name]) for c in configs)

    try:
        wait_for(all_hold, HEALTH_WAIT_S, what)
    except AssertionError:
        raise AssertionError(f"{what}: {seen}") from None
    return seen


def ok_at_least(height: int) -> Any:
    return lambda code, body: code == 200 and body.get("status") == "ok" and body.get("height", 0) >= height


def test_every_node_answers_healthz_ok_and_503_degraded_without_nats(tmp_path: Path, nodes: NodeProcesses) -> None:
    data = init_networked(tmp_path)
    nats_configs = nodes.start_nats(data)
    for kind in ("orderer", "peer"):
        for home in node_homes(data, kind):
            nodes.start(home)
    console_home = NetworkLayout(data).node_dir("console.Org1")
    with open(console_home / "test-run.log", "ab") as log:
        port = free_base_port(1)
        env = {**os.environ, "GRIDLEDGER_FAST_KDF": "1"}
        nodes.procs[console_home] = subprocess.Popen(
            [*CLI, "node", "run", "--home", str(console_home), "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )
    configs = [load_node_config(h) for h in [*node_homes(data, "orderer"), *node_homes(data, "peer"), console_home]]
    assert all(c.health_port for c in configs) and len({c.health_port for c in configs}) == len(configs)

    healthy = wait_health(configs, ok_at_least(1), "every node healthy at height >= 1")
    for config in configs:
        _, body = healthy[config.name]
        assert body["name"] == config.name and body["role"] == config.kind and body["problems"] == []
    orderers = [healthy[c.name][1] for c in configs if c.kind == "orderer"]
    for body in orderers:
        assert body["nats"]["connected"]
        for stream in (SUBJECTS.envelopes_stream, SUBJECTS.blocks_stream):
            info = body["streams"][stream]
            assert info["leader"] and len(info["replicas"]) == 2, info  # R3: a leader and two replicas
    peers = [healthy[c.name][1] for c in configs if c.kind == "peer"]
    assert {len(p["commit_hash"]) for p in peers} == {64} and all(p["nats"]["connected"] for p in peers)
    console = healthy["console.Org1"][1]
    assert console["peers_alive"] == 4 and console["orderer_alive"]
    code, missing = health_probe(configs[0], "/nope")
    assert code == 404 and missing["code"] == "NOT_FOUND"

    for home in node_homes(data, "nats"):  # every NATS server gone
        os.kill(nodes.procs[home].pid, signal.SIGKILL)
        nodes.procs[home].wait()

    def degraded(code: int, body: dict[str, Any]) -> bool:
        # the console stops hearing the orderers and the peers at slightly different moments
        problems = " ".join(body.get("problems", []))
        expected = ["no peer is heard", "no orderer is heard"] if body.get("role") == "console" else ["not connected to NATS"]
        return code == 503 and body.get("status") == "degraded" and all(e in problems for e in expected)

    wait_health(configs, degraded, "every node degraded without NATS, saying why")

    for home in node_homes(data, "nats"):
        nodes.start(home)
    wait_for(lambda: all(http_ok(monitor_url(c) + "/healthz") for c in nats_configs), HEALTH_WAIT_S, "NATS back")
    height = max(b["height"] for _, b in healthy.values())
    back = wait_health(configs, ok_at_least(height), "every node healthy again")
    for config in configs:
        assert nodes.procs[Path(NetworkLayout(data).node_dir(config.name))].poll() is None, f"{config.name} exited"
    print("health:", {name: (code, body["status"], body["height"]) for name, (code, body) in back.items()})

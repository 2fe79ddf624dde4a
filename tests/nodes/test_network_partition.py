"""The consortium across network namespaces, one per organization, and one cut off under load.

Each organization's nodes run in its own namespace (`ip netns exec NS gridledger node run
--home DIR`), configured by address through the network file (`networked.hosts`: one
address per organization): OrdererOrg runs nats0 and the three orderers, Org1 runs nats1
and its two peers, Org2 nats2 and its two peers. The clients run in Org1's namespace.
The chaincode's endorsement policy is OR(Org1, Org2) here: with the default AND nothing
could commit while Org2 is away, whatever the ordering service does.

Under load, Org2's link is cut (its bridge port down: packets dropped, connections not
closed). The others go on committing: two of three NATS servers are a JetStream quorum.
Org2's peers, read through their health endpoints from inside Org2's namespace, stay
behind. The link is healed: Org2's peers catch up, all four peers end on one height and
commit hash, every acknowledged transaction is on every peer at its block, verify passes.
The namespaces and everything in them are removed at the end, also after a failure.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from netns import Namespaces
from nodekit import ADMIN_PASSWORD, CLI, NodeProcesses, health_probe, http_ok, monitor_url, node_homes, wait_for
from test_gateway_nats import submit

from ledger.core.codes import ValidationCode
from ledger.core.errors import LedgerError
from ledger.node.init import init_network
from ledger.node.network import Network
from ledger.node.nodeconf import NodeConfig, load_node_config
from ledger.node.spec import default_config_path
from ledger.tools.netverify import verify_networked

ORGS = ["OrdererOrg", "Org1", "Org2", "Regulator"]
CUT_ORG = "Org2"
CLIENT_ORG = "Org1"
BASE_PORT = 14220  # the namespaces are new: every port in them is free
CLIENTS = 3
ACKS_BEFORE_CUT = 6
BLOCKS_DURING_CUT = 4  # blocks the others commit while Org2 is away (at least)
ACKS_AFTER_HEAL = 4
PHASE_S = 60.0  # the longest any phase may take on a loaded machine
PROBE_S = 3.0


@pytest.fixture
def namespaces() -> Iterator[Namespaces]:
    spaces = Namespaces(ORGS)
    try:
        spaces.create()
        yield spaces
    finally:
        spaces.destroy()
        leftover = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert spaces.tag not in leftover, leftover


def partition_network_file(tmp: Path, spaces: Namespaces) -> Path:
    spec = yaml.safe_load(default_config_path().read_text())
    spec["networked"]["nats"] = [{"name": "nats0", "org": "OrdererOrg"}, {"name": "nats1", "org": "Org1"}, {"name": "nats2", "org": "Org2"}]
    spec["networked"]["hosts"] = dict(spaces.addresses)
    for chaincode in spec["chaincodes"]:
        if chaincode["name"] == "powerdata":
            chaincode["endorsement_policy"] = "OR('Org1.peer', 'Org2.peer')"
    path = tmp / "network.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_one_organization_cut_off_under_load_the_others_commit_and_it_catches_up(tmp_path: Path, nodes: NodeProcesses, namespaces: Namespaces) -> None:
    spaces = namespaces
    data = tmp_path / "net"
    init_network(partition_network_file(tmp_path, spaces), data, admin_password=ADMIN_PASSWORD, networked=True, base_port=BASE_PORT)
    homes = {kind: node_homes(data, kind) for kind in ("nats", "orderer", "peer")}
    configs = {home: load_node_config(home) for kind in homes.values() for home in kind}
    for config in configs.values():  # configured by address: each node listens in its own organization's namespace
        assert config.health_host == spaces.addresses[config.org], config

    def start(home: Path) -> None:
        log = open(home / "test-run.log", "ab")
        command = [*spaces.exec_prefix(configs[home].org), *CLI, "node", "run", "--home", str(home)]
        nodes.procs[home] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=os.environ.copy())

    for home in homes["nats"]:
        start(home)
    for home in homes["nats"]:
        wait_for(lambda h=home: spaces.run_in(configs[h].org, lambda: http_ok(monitor_url(configs[h]) + "/healthz")), PHASE_S, f"{configs[home].name} healthy")
    for home in homes["orderer"] + homes["peer"]:
        start(home)
    peers = {configs[h].name: configs[h] for h in homes["peer"]}
    cut_peers = [c for c in peers.values() if c.org == CUT_ORG]

    def peer_health(config: NodeConfig) -> dict[str, Any]:
        return spaces.run_in(config.org, lambda: health_probe(config, timeout_s=PROBE_S)[1])

    acknowledged: list[tuple[str, int, int, str]] = []  # (tx id, block, amount, phase)
    refused: list[str] = []
    phase = ["before"]
    stop = threading.Event()
    lock = threading.Lock()
    with spaces.entered(CLIENT_ORG):  # the connection's event loop thread lives in Org1's namespace
        net = Network.open(data)
    try:
        wait_for(lambda: all(p.alive and p.height >= 1 for p in net.peers), PHASE_S, "every peer heard")
        users = [net.enroll(CLIENT_ORG, f"load{i}") for i in range(CLIENTS)]
        for i, user in enumerate(users):
            _, registered, code = submit(net, user, "userRegister", f"Load{i}", f"L{i}")
            assert code == ValidationCode.VALID
        wait_for(lambda: all(p.height > registered for p in net.peers), PHASE_S, "every peer has the users")

        def client(i: int) -> None:
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    tx_id, block, code = submit(net, users[i], "userTopup", f"L{i}", str(n))
                except LedgerError as exc:  # refused or timed out: not acknowledged
                    with lock:
                        refused.append(exc.code)
                    continue
                assert code == ValidationCode.VALID
                with lock:
                    acknowledged.append((tx_id, block, n, phase[0]))

        def acks(of_phase: str) -> int:
            with lock:
                return sum(1 for a in acknowledged if a[3] == of_phase)

        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        wait_for(lambda: acks("before") >= ACKS_BEFORE_CUT, PHASE_S, "load before the cut")

        spaces.cut(CUT_ORG)
        phase[0] = "cut"
        cut_at = time.monotonic()
        org1 = [p for p in net.peers if p.org == CLIENT_ORG]
        height_at_cut = max(p.height for p in net.peers)
        # The others go on committing: blocks past the cut, and transactions acknowledged in them.
        wait_for(lambda: min(p.height for p in org1) >= height_at_cut + BLOCKS_DURING_CUT and acks("cut") >= BLOCKS_DURING_CUT, PHASE_S, "Org1 committing while Org2 is cut off")
        during = {c.name: peer_health(c) for c in cut_peers}
        org1_height = min(p.height for p in org1)
        behind = {name: body.get("height") for name, body in during.items()}
        assert all(isinstance(h, int) and h < org1_height for h in behind.values()), (behind, org1_height)
        cut_s = time.monotonic() - cut_at

        spaces.heal(CUT_ORG)
        phase[0] = "healed"
        try:
            wait_for(lambda: acks("healed") >= ACKS_AFTER_HEAL, PHASE_S, "load after the heal")
        except AssertionError:  # say what the clients and peers saw, for a failure in a loaded full run
            with lock:
                refused_codes = sorted(set(refused))
            seen = {c.name: (b.get("height"), b.get("status")) for c in peers.values() for b in [peer_health(c)]}
            raise AssertionError(
                f"load after the heal: {acks('healed')} acknowledged in {PHASE_S:.0f} s; refused {len(refused)} {refused_codes}; "
                f"gateway's peers {[(p.name, p.alive, p.height) for p in net.peers]}; peers' health {seen}"
            ) from None
        stop.set()
        for t in threads:
            t.join(PHASE_S)
        assert not any(t.is_alive() for t in threads), "a client hung"

        tip = max(b for _, b, _, _ in acknowledged) + 1
        # No divergence: every peer, asked directly in its own namespace, at one height and commit hash.
        final: dict[str, Any] = {}

        def converged() -> bool:
            final.update({name: peer_health(c) for name, c in peers.items()})
            seen = {(b.get("height"), b.get("commit_hash")) for b in final.values()}
            return len(seen) == 1 and next(iter(seen))[0] >= tip and all(b.get("status") == "ok" for b in final.values())

        try:
            wait_for(converged, PHASE_S * 2, "Org2's peers caught up")
        except AssertionError:
            raise AssertionError({n: (b.get("height"), b.get("status"), b.get("problems")) for n, b in final.items()}) from None
        heal_s = time.monotonic() - cut_at - cut_s
        held = sum(1 for tx_id, block, _, _ in acknowledged if all((loc := p.tx_location(tx_id)) is not None and loc[0] == block and loc[2] == 0 for p in net.peers))
    finally:
        stop.set()
        net.close()
    with spaces.entered(CLIENT_ORG):
        report = verify_networked(data)
    assert report.ok, report.problems
    counts = {p: sum(1 for a in acknowledged if a[3] == p) for p in ("before", "cut", "healed")}
    height = next(iter(final.values()))["height"]
    print(
        f"partition of {CUT_ORG} under load: acknowledged {len(acknowledged)} {counts}, refused {len(refused)} {sorted(set(refused))}, "
        f"held on every peer {held}; cut for {cut_s:.1f} s with Org2 at {behind} while Org1 reached {org1_height}; "
        f"all 4 peers at height {height}, one commit hash, {heal_s:.1f} s after the heal; verify ok"
    )
    assert held == len(acknowledged)

"""PostgreSQL as the peers' state database in networked mode: the network file's
`storage.state` URL template gives each peer node its own database (node.json `state_url`);
real orderer and peer nodes commit through NATS and the peers agree on one commit hash."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy
import yaml
from nodekit import ADMIN_PASSWORD, NodeProcesses, free_base_port, node_homes
from postgres_server import PostgresServer, postgres_server  # noqa: F401  (fixture)
from test_gateway_nats import submit, wait_all_alive, wait_in_sync

from ledger.core.codes import ValidationCode
from ledger.node.init import init_network
from ledger.node.network import Network
from ledger.node.nodeconf import load_node_config
from ledger.node.spec import default_config_path

PEER_DATABASES = ["peer0_org1", "peer1_org1", "peer0_org2", "peer1_org2"]


def test_peer_nodes_keep_their_state_in_postgresql(tmp_path: Path, nodes: NodeProcesses, postgres_server: PostgresServer) -> None:  # noqa: F811
    for name in PEER_DATABASES:
        postgres_server.create_database(f"gl_{name}")
    template = postgres_server.admin_url.rsplit("/", 1)[0] + "/gl_{peer}"  # one database per peer
    spec = yaml.safe_load(default_config_path().read_text())
    spec["storage"]["state"] = template
    network_file = tmp_path / "network.yaml"
    network_file.write_text(yaml.safe_dump(spec))
    data = tmp_path / "net"
    init_network(network_file, data, admin_password=ADMIN_PASSWORD, networked=True, base_port=free_base_port())
    urls = {load_node_config(h).name: load_node_config(h).state_url for h in node_homes(data, "peer")}
    assert sorted(str(url).rsplit("/", 1)[1] for url in urls.values()) == sorted(f"gl_{n}" for n in PEER_DATABASES), urls

    nodes.start_nats(data)
    for kind in ("orderer", "peer"):
        for home in node_homes(data, kind):
            nodes.start(home)
    with Network.open(data) as net:
        wait_all_alive(net)
        dave = net.enroll("Org2", "dave")
        _, block, code = submit(net, dave, "userRegister", "Dave", "D")
        assert code == ValidationCode.VALID
        _, block, code = submit(net, dave, "userTopup", "D", "31")
        assert code == ValidationCode.VALID
        assert len(wait_in_sync(net, block + 1)) == 1
        assert net.gateway(dave).evaluate_json("queryUser", ["D"])["Token"] == 31
    # The state really is in each peer's own PostgreSQL database: its tables hold rows.
    for url in urls.values():
        assert url is not None
        engine = sqlalchemy.create_engine(url)
        try:
            with engine.connect() as connection:
                tables = sqlalchemy.inspect(connection).get_table_names()
                rows = sum(connection.execute(sqlalchemy.text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in tables)
        finally:
            engine.dispose()
        assert tables and rows > 0, f"no state in {url}"

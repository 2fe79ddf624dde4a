"""The network file: refusals with messages that say where, and `init` on an existing network."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ledger.core.errors import ConfigError
from ledger.node.init import init_network
from ledger.node.spec import default_config_path, load_spec

DEFAULT = yaml.safe_load(default_config_path().read_text())


def write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "network.yaml"
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document))
    return path


def changed(**top: object) -> dict:
    return {**DEFAULT, **top}


def test_default_network_file_is_the_papers_topology() -> None:
    spec = load_spec(default_config_path())
    assert [(o.name, o.peers) for o in spec.organizations] == [("Org1", ["peer0", "peer1"]), ("Org2", ["peer0", "peer1"]), ("Regulator", [])]
    assert spec.chaincodes[0].endorsement_policy == "AND('Org1.peer', 'Org2.peer')"
    assert spec.orderer.batch.max_message_count == 200


@pytest.mark.parametrize(
    "document, fragment",
    [
        ("channel: [unclosed", "network.yaml"),
        (changed(colour="blue"), "colour"),
        (changed(orderer={**DEFAULT["orderer"], "batch": {**DEFAULT["orderer"]["batch"], "max_msg": 1}}), "max_msg"),
        (changed(chaincodes=[{**DEFAULT["chaincodes"][0], "endorsement_policy": "AND('Org1.peer'"}]), "chaincode powerdata: policy"),
        (changed(chaincodes=[{**DEFAULT["chaincodes"][0], "approval_policy": "OR('Regulator.king')"}]), "Regulator.king"),
        (changed(organizations=[{"name": "Org1", "peers": ["p"]}, {"name": "Org1"}]), "unique"),
        (changed(organizations=[{"name": "Org1"}]), "at least one organization needs peers"),
        (changed(orderer={**DEFAULT["orderer"], "nodes": ["o1", "o1"]}), "orderer node names must be unique"),
        (changed(orderer={**DEFAULT["orderer"], "nodes": ["o.1"]}), "letters, digits"),
        (changed(orderer={**DEFAULT["orderer"], "batch": {**DEFAULT["orderer"]["batch"], "preferred_max_bytes": 20 << 20}}), "preferred <= absolute"),
        (changed(channel=5), "channel"),
        ({k: v for k, v in DEFAULT.items() if k != "chaincodes"}, "chaincodes"),
    ],
    ids=["bad-yaml", "unknown-top-field", "unknown-batch-field", "unparsable-policy", "bad-role", "duplicate-org", "no-peers", "duplicate-orderer", "bad-node-name", "preferred-above-absolute", "wrong-type", "missing-field"],
)
def test_bad_network_file_is_a_config_error_that_says_where(tmp_path: Path, document: object, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_spec(write(tmp_path, document))
    assert fragment in str(caught.value)


def test_missing_network_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nowhere.yaml"):
        load_spec(tmp_path / "nowhere.yaml")


def test_init_refuses_a_directory_that_already_holds_a_network(pristine_dir: Path) -> None:
    before = (pristine_dir / "genesis.block").read_bytes()
    with pytest.raises(ConfigError, match="already holds a network"):
        init_network(default_config_path(), pristine_dir, admin_password="another-password")
    assert (pristine_dir / "genesis.block").read_bytes() == before


def test_init_with_a_bad_file_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        init_network(write(tmp_path, changed(colour="blue")), tmp_path / "data", admin_password="long-enough-pw")
    assert not (tmp_path / "data").exists()

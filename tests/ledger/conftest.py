"""Fixtures of the ledger's tests: a pristine initialised network directory, copied per use.

`gridledger init` runs once per session; each test (or module) that needs a network copies
that directory, so key material is shared but block files and state are never.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ["GRIDLEDGER_FAST_KDF"] = "1"  # before anything derives a wallet key
os.environ.setdefault("GRIDLEDGER_LOG_LEVEL", "WARNING")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ledger.node.init import init_network
from ledger.node.logs import configure_logging
from ledger.node.network import Network
from ledger.node.spec import default_config_path

# Bind the structured logs to the real stderr now, not to a stream CliRunner swaps in later.
configure_logging()

from netkit import ADMIN_PASSWORD


@pytest.fixture(scope="session")
def pristine_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A freshly initialised default network (never opened): copy it, do not use it."""
    data = tmp_path_factory.mktemp("pristine") / "net"
    init_network(default_config_path(), data, admin_password=ADMIN_PASSWORD)
    return data


@pytest.fixture
def network_dir(pristine_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the pristine network for one test."""
    target = tmp_path / "net"
    shutil.copytree(pristine_dir, target)
    return target


@pytest.fixture
def net(network_dir: Path) -> Iterator[Network]:
    network = Network.open(network_dir)
    yield network
    network.close()


@pytest.fixture(params=["one-process", "peer-processes"])
def any_net(request: pytest.FixtureRequest, network_dir: Path) -> Iterator[Network]:
    """The network in both embedded layouts: every node in this process, or each peer in its own."""
    network = Network.open(network_dir, peer_processes=request.param == "peer-processes")
    yield network
    network.close()


@pytest.fixture(scope="module")
def shared_net(pristine_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    """One network per module, for tests whose users and assets do not overlap."""
    target = tmp_path_factory.mktemp("shared") / "net"
    shutil.copytree(pristine_dir, target)
    network = Network.open(target)
    yield network
    network.close()

"""Random call sequences through the REAL embedded network (endorse → order → validate →
commit on four peers) agree with the plain reference model: same outcomes and codes,
tokens conserved, and every peer ends with the same height and commit hash."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from contract_machine import make_machine
from hypothesis import HealthCheck, settings

from ledger.core.messages import compute_tx_id
from ledger.gateway import CommitError, GatewayError, make_signoff
from ledger.node.init import init_network
from ledger.node.network import Network
from ledger.node.spec import default_config_path

os.environ.setdefault("GRIDLEDGER_FAST_KDF", "1")
BATCH_TIMEOUT_MS = 5  # sequential calls: do not wait 50 ms for every block to be cut


def _fast_config(directory: Path) -> Path:
    spec = yaml.safe_load(default_config_path().read_text())
    spec["orderer"]["batch"]["batch_timeout_ms"] = BATCH_TIMEOUT_MS
    path = directory / "network.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


class NetworkDriver:
    """The contract behind the state machine's driver interface, on a fresh network."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="gridledger-machine-")
        root = Path(self._tmp.name)
        init_network(_fast_config(root), root / "net", admin_password="machine-admin-pw")
        self.net = Network.open(root / "net")
        self.approver = self.net.service_identity(self.net.approver_org)
        self.reader = self.net.gateway(self.approver)

    def _identity(self, label: str):  # type: ignore[no-untyped-def]
        return self.net.client_identity(self.net.console_org, label)

    def call(self, function: str, args: Any, parties: Any = (), *, approved: bool = True) -> tuple[bool, Any]:
        if function in ("queryUser", "queryAsset", "assetsExchangeHistory") and not parties:
            try:
                return True, json.loads(self.reader.evaluate(function, list(args)))
            except GatewayError as exc:
                return False, exc.code
        creator = self._identity(parties[0]) if parties else self.approver
        gateway = self.net.gateway(creator)
        invocation = gateway.new_invocation(function, list(args))
        tx_id = compute_tx_id(invocation)
        signoffs = [make_signoff("party", self._identity(p), tx_id) for p in parties]
        if approved:
            signoffs.append(make_signoff("approval", self.approver, tx_id))
        try:
            return True, gateway.submit(invocation, signoffs).json()
        except CommitError as exc:  # a sequential run has no conflicts: an invalid commit is a bug
            raise AssertionError(f"{function}{tuple(args)} committed as {exc.code}") from None
        except GatewayError as exc:
            return False, exc.code

    def close(self) -> None:
        """Check that all peers agree, then stop the network."""
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and len({(s.height, s.commit_hash) for s in self.net.status()}) > 1:
                time.sleep(0.01)
            statuses = self.net.status()
            assert len({(s.height, s.commit_hash) for s in statuses}) == 1, f"peers disagree: {statuses}"
        finally:
            self.net.close()
            self._tmp.cleanup()


_Machine = make_machine(NetworkDriver)


class ContractOnNetwork(_Machine):  # type: ignore[misc, valid-type]
    def teardown(self) -> None:
        self.sut.close()


ContractOnNetwork.TestCase.settings = settings(
    max_examples=25, stateful_step_count=25, deadline=None, suppress_health_check=list(HealthCheck)
)
TestContractOnNetwork = ContractOnNetwork.TestCase

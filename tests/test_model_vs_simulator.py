"""Random call sequences: the power-data contract on the REAL simulator (ledger.execute.simulator
over a real state database) agrees with the reference model. Unlike the fake ledger, a call on
the real simulator reads its own pending writes; this runs the contract the way endorsers do."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from contract_machine import make_machine
from fake_context import CLOCK_START_MS, CLOCK_STEP_MS, Identities
from hypothesis import HealthCheck, settings

from chaincode.power_data.contract import PowerDataContract
from ledger.core.statekeys import namespaced
from ledger.execute.chaincode_api import ChaincodeRefusal
from ledger.execute.simulator import TxSimulator
from ledger.storage.statedb import StateDB

IDENTITIES = Identities()
CHAINCODE = "powerdata"
CHANNEL = "gridchannel"


class SimulatorDriver:
    """Each call simulated by TxSimulator on a SQLite state database; a success is committed
    with StateDB.apply_block (one block per call), exactly the rows a peer would write."""

    def __init__(self) -> None:
        self.ids = IDENTITIES
        self.contract = PowerDataContract(approver_org="Regulator")
        self.directory = Path(tempfile.mkdtemp(prefix="gridledger-sim-"))
        self.state = StateDB(f"sqlite:///{self.directory / 'state.sqlite'}")
        self.block = 0
        self.clock_ms = CLOCK_START_MS

    def call(self, function: str, args: tuple[str, ...] | list[str], parties: tuple[str, ...] | list[str] = (), *, approved: bool = True) -> tuple[bool, Any]:
        approver = self.ids.admin if approved else None
        creator = self.ids.client(parties[0]) if parties else self.ids.admin
        self.clock_ms += CLOCK_STEP_MS
        tx_id = f"{self.block:064x}"
        simulator = TxSimulator(
            self.state, channel=CHANNEL, chaincode=CHAINCODE, tx_id=tx_id, timestamp_ms=self.clock_ms,
            function=function, args=tuple(args), creator=creator, signoffs=self.ids.signoffs(parties, approver),
        )  # fmt: skip
        try:
            result = self.contract.invoke(simulator)
        except ChaincodeRefusal as refusal:
            return False, refusal.code
        writes = simulator.read_write_set().writes
        self.state.apply_block(self.block, bytes(32), [(0, tx_id, self.clock_ms, w) for w in writes], [(tx_id, 0, 0)])
        self.block += 1
        return True, json.loads(result)

    def close(self) -> None:
        self.state.close()
        shutil.rmtree(self.directory, ignore_errors=True)


_Machine = make_machine(SimulatorDriver)


class ContractOnRealSimulator(_Machine):  # type: ignore[misc,valid-type]
    def teardown(self) -> None:
        self.sut.close()


ContractOnRealSimulator.TestCase.settings = settings(
    max_examples=40, stateful_step_count=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestContractOnRealSimulator = ContractOnRealSimulator.TestCase


class _WritesThenReads:
    """A chaincode that writes a key and reads it back in the same call."""

    def invoke(self, ctx: Any) -> bytes:
        ctx.put_state("k", b"pending")
        seen = ctx.get_state("k")
        ctx.del_state("gone")
        return json.dumps({"seen": seen.decode() if seen else None, "gone": ctx.get_state("gone")}).encode()


def test_a_call_reads_its_own_writes_on_the_real_simulator(tmp_path: Path) -> None:
    state = StateDB(f"sqlite:///{tmp_path / 'state.sqlite'}")
    try:
        simulator = TxSimulator(
            state, channel=CHANNEL, chaincode=CHAINCODE, tx_id="0" * 64, timestamp_ms=CLOCK_START_MS,
            function="f", args=(), creator=IDENTITIES.admin, signoffs=(),
        )  # fmt: skip
        assert json.loads(_WritesThenReads().invoke(simulator)) == {"seen": "pending", "gone": None}
        written = simulator.read_write_set().writes
        assert [(w.key, w.value, w.is_delete) for w in written] == [(namespaced(CHAINCODE, "gone"), b"", True), (namespaced(CHAINCODE, "k"), b"pending", False)]
        assert state.get(namespaced(CHAINCODE, "k")) is None  # nothing committed by simulating
    finally:
        state.close()

"""Random call sequences: the power-data contract on the in-memory ledger agrees with the reference model."""

from __future__ import annotations

from contract_machine import make_machine
from fake_context import FakeDriver, Identities
from hypothesis import HealthCheck, settings

from chaincode.power_data.contract import PowerDataContract

IDENTITIES = Identities()  # key generation is the slow part; one set serves every example


def fake_driver() -> FakeDriver:
    return FakeDriver(PowerDataContract(approver_org="Regulator"), IDENTITIES)


ContractOnFakeLedger = make_machine(fake_driver)
# The fake ledger runs a step in well under a millisecond, so it can afford more examples than the
# ~50 a real-network driver should use; 200 examples x 30 steps take a few seconds.
ContractOnFakeLedger.TestCase.settings = settings(
    max_examples=200, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestContractOnFakeLedger = ContractOnFakeLedger.TestCase

"""The benchmark workload is valid against the contract: setup and a measured round run without refusals."""

from __future__ import annotations

from collections import Counter

from chaincode.power_data import workload
from chaincode.power_data.contract import PowerDataContract
from fake_context import FakeDriver


def test_setup_and_two_rounds_run_clean_and_conserve_tokens() -> None:
    net = FakeDriver(PowerDataContract())
    setup = workload.setup_transactions()
    assert len(setup) == 2 * workload.USERS + workload.ASSETS
    holdings = workload.initial_holdings()
    rounds = []
    for seed in (1, 2):
        txs, holdings = workload.measured_round(seed, holdings)
        rounds.append(txs)
    assert workload.measured_round(1, workload.initial_holdings())[0] == rounds[0]  # seeded: reproducible
    topped_up = 0
    for tx in setup + rounds[0] + rounds[1]:
        success, result = net.call(tx.function, tx.args, tx.parties)
        assert success, f"{tx}: {result}"
        topped_up += int(tx.args[1]) if tx.function == "userTopup" else 0
    mix = Counter((t.function, len(t.parties)) for t in rounds[0])
    assert len(rounds[0]) == workload.ROUND_TRANSACTIONS
    assert mix[("userTopup", 1)] > 300 and mix[("assetsExchange", 1)] > 1000 and mix[("assetsExchange", 2)] > 150
    total = sum(net.call("queryUser", (workload.user_id(i),))[1]["Token"] for i in range(workload.USERS))
    assert total == topped_up

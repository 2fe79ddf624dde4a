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


def test_bench_workload_phases_have_no_two_writes_to_one_user() -> None:
    bench = workload.PowerDataWorkload(run_id="abc123")
    net = FakeDriver(PowerDataContract())
    for phase in bench.setup_phases():
        acting = [t.args[3] if t.function == "assetsEnroll" else t.args[1 if t.function == "userRegister" else 0] for t in phase]
        assert len(acting) == len(set(acting)), "two steps of one phase write the same user record"
        for step in phase:
            assert net.call(step.function, step.args, step.parties)[0], step
    for step in bench.round(500) + bench.round(500):
        assert step.args[0].startswith("babc123-")
        assert net.call(step.function, step.args, step.parties)[0], step

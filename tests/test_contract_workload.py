"""The benchmark workload is valid against the contract: setup and measured rounds run without refusals,
and no measured transaction depends on the outcome of another one."""

from __future__ import annotations

from collections import Counter

from fake_context import FakeDriver

from chaincode.power_data import workload
from chaincode.power_data.contract import PowerDataContract

CONFLICTS = {"MVCC_READ_CONFLICT", "PHANTOM_READ_CONFLICT"}


def total_tokens(net: FakeDriver, prefix: str = workload.ID_PREFIX_DEFAULT) -> int:
    return sum(net.call("queryUser", (workload.user_id(i, prefix),))[1]["Token"] for i in range(workload.USERS))


def test_setup_and_two_rounds_run_clean_and_conserve_tokens() -> None:
    net = FakeDriver(PowerDataContract())
    setup = workload.setup_transactions()
    bought = workload.SETUP_PURCHASE_PHASES * (workload.USERS - workload.PUBLISHERS)
    assert len(setup) == 2 * workload.USERS + workload.ASSETS + bought
    holdings = workload.initial_holdings()
    assert len(holdings.spare) == bought >= workload.SETUP_HOLDINGS_MIN
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
    assert mix[("userTopup", 1)] > 300 and mix[("assetsExchange", 1)] > 1000 and mix[("assetsExchange", 2)] > 250
    assert total_tokens(net) == topped_up


def test_round_draws_new_pairs_and_moves_each_setup_holding_once() -> None:
    holdings = workload.initial_holdings()
    setup_held = set(holdings.drawn)
    seen_pairs: set[tuple[str, str]] = set()
    moved: set[tuple[str, str]] = set()
    buyers: Counter[str] = Counter()
    for seed in (1, 2, 3):
        txs, holdings = workload.measured_round(seed, holdings)
        for tx in txs:
            if tx.function != "assetsExchange":
                continue
            aid, seller, buyer = tx.args
            assert (buyer, aid) not in seen_pairs and (buyer, aid) not in setup_held, tx
            seen_pairs.add((buyer, aid))
            buyers[buyer] += 1
            if len(tx.parties) == 2:
                assert (seller, aid) in setup_held and (seller, aid) not in moved, tx
                moved.add((seller, aid))
    assert len(buyers) > 0.9 * workload.USERS  # buyers come from (nearly) every user


def test_setup_phases_each_commit_as_one_block() -> None:
    """Every setup phase may run concurrently: as one block, every step is VALID (sales from one publisher included)."""
    bench = workload.PowerDataWorkload(run_id="abc123")
    net = FakeDriver(PowerDataContract())
    for phase in bench.setup_phases():
        outcomes = net.block([(t.function, t.args, t.parties) for t in phase])
        assert [code for code, _ in outcomes] == ["VALID"] * len(phase), Counter(code for code, _ in outcomes)


def test_measured_rounds_in_blocks_fail_only_by_conflicts() -> None:
    """Rounds cut into blocks: whatever conflicts, no step is refused by the contract in this round or the next."""
    bench = workload.PowerDataWorkload(run_id="abc123")
    net = FakeDriver(PowerDataContract())
    for phase in bench.setup_phases():
        net.block([(t.function, t.args, t.parties) for t in phase])
    topped_up = workload.USERS * workload.SETUP_TOKENS
    codes: Counter[str] = Counter()
    for _ in range(2):
        steps = bench.round(1000)
        assert all(step.args[0].startswith("babc123-") for step in steps)
        for start in range(0, len(steps), 50):
            chunk = steps[start : start + 50]
            outcomes = net.block([(t.function, t.args, t.parties) for t in chunk])
            codes.update(code for code, _ in outcomes)
            topped_up += sum(int(t.args[1]) for t, (code, _) in zip(chunk, outcomes) if t.function == "userTopup" and code == "VALID")
    assert set(codes) <= {"VALID"} | CONFLICTS, codes
    assert codes["VALID"] > 1500, codes
    assert total_tokens(net, bench.prefix) == topped_up

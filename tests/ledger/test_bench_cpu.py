"""`bench`'s CPU per committed transaction for each role, read from /proc: a thread's time
counts for its role and not for the gateway's process; on a network with peer processes
every peer, the orderer and the gateway are reported, in the round's JSON too."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from ledger.core.errors import LedgerError
from ledger.node.network import Network
from ledger.tools import cpu
from ledger.tools.bench import BENCH_CLIENT, Driver, RoundReport, Step, run_round
from ledger.tools.benchrun import _table, cpu_sources, print_table, run_benchmark

BURN_S = 0.3


def test_a_threads_cpu_counts_for_its_role_not_for_the_gateway() -> None:
    ready, done, measured = threading.Event(), threading.Event(), threading.Event()
    tid: list[int] = []

    def burn() -> None:
        tid.append(threading.get_native_id())
        ready.set()
        done.wait()
        start = time.thread_time()
        while time.thread_time() - start < BURN_S:
            pass
        ready.clear()
        measured.wait()  # a thread that ended has no /proc entry: stay until sampled

    burner = threading.Thread(target=burn)
    burner.start()
    ready.wait()
    sources = {"burner": (os.getpid(), tid[0])}
    before = cpu.sample(sources)
    done.set()
    while ready.is_set():
        time.sleep(0.01)
    after = cpu.sample(sources)
    measured.set()
    burner.join()
    used = cpu.per_transaction_ms(before, after, sources, 1)
    assert list(used) == [cpu.GATEWAY_ROLE, "burner"]
    assert BURN_S * 1000 * 0.8 <= used["burner"] <= BURN_S * 1000 * 1.5
    assert used[cpu.GATEWAY_ROLE] < used["burner"] / 2  # the main thread mostly waited


@pytest.fixture
def proc_net(network_dir: Path) -> Iterator[Network]:
    network = Network.open(network_dir, peer_processes=True)
    yield network
    network.close()


def test_every_role_of_a_network_with_peer_processes_is_measured(proc_net: Network) -> None:
    net = proc_net
    sources = cpu_sources(net)
    assert set(sources) == {"orderer", *(p.name for p in net.peers)}
    driver = Driver(net.gateway, lambda name: net.client_identity("Org1", name), net.service_identity(net.approver_org))
    steps = [Step("userRegister", (f"User {i}", f"U{i}"), (f"user{i}",)) for i in range(120)]
    before = cpu.sample(sources)
    report = run_round(driver, steps, label="register", rate_tps=0)
    report.cpu_ms_per_tx = cpu.per_transaction_ms(before, cpu.sample(sources), sources, report.succ)
    assert report.succ == len(steps)
    per_role = report.as_dict()["cpu_ms_per_tx"]
    assert set(per_role) == {cpu.GATEWAY_ROLE, *sources}
    assert all(per_role[p.name] > 0 for p in net.peers)  # each validated and committed every block
    assert per_role[cpu.GATEWAY_ROLE] > 0 and per_role["orderer"] >= 0


def test_users_are_enrolled_before_the_round_not_inside_it(network_dir: Path) -> None:
    """`Driver.prepare` issues every named user's certificate before the clock starts, so a
    round measures transactions, not the CA's enrollments."""
    net = Network.open(network_dir)
    try:
        loaded: list[str] = []

        def load(name: str) -> object:
            loaded.append(name)
            return net.client_identity("Org1", name)

        driver = Driver(net.gateway, load, net.service_identity(net.approver_org))  # type: ignore[arg-type]
        steps = [Step("userRegister", (f"Prep {i}", f"P{i}"), (f"prep{i}",)) for i in range(6)]
        driver.prepare(steps)
        assert sorted(loaded) == sorted([BENCH_CLIENT, *(f"prep{i}" for i in range(6))])
        loaded.clear()
        report = run_round(driver, steps, label="prepared", rate_tps=0)
        assert report.succ == len(steps)
        assert loaded == []  # nobody enrolled while the round ran
    finally:
        net.close()


def test_the_report_table_goes_to_stdout_whole_when_it_is_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    """Without --json the table is the command's output. Before, it went to stderr (so
    `bench > run.txt` wrote nothing) and was cut to 80 columns: "rou…", "thr…", "gat… 1.2…"."""
    measured = RoundReport(
        label="mixed@700tps", sent=2000, succ=1990, fail=10, failures={"MVCC_READ_CONFLICT": 10}, send_rate_tps=690.4, throughput_tps=612.3,
        latency_ms={"min": 20.0, "avg": 110.0, "p50": 101.0, "p99": 215.0, "max": 250.0}, duration_s=3.2,
        cpu_ms_per_tx={"gateway": 0.55, "orderer": 0.05, "peer0.Org1": 0.61, "peer1.Org1": 0.62, "peer0.Org2": 0.6, "peer1.Org2": 0.63},
    )
    print_table(_table([measured]), quiet=False)
    out, err = capsys.readouterr()
    assert err == ""
    for text in ("mixed@700tps", "throughput tps", "gateway 0.55, orderer 0.05, peer0.Org1 0.61", '{"MVCC_READ_CONFLICT": 10}'):
        assert text in out, out
    print_table(_table([measured]), quiet=True)  # --json: the JSON document alone
    assert capsys.readouterr() == ("", "")


def test_a_chaincode_without_a_workload_is_a_refusal_with_a_code(net: Network) -> None:
    """Before, SystemExit("chaincode ... names no benchmark workload"): the CLI printed that
    text on stderr and nothing on stdout, not the {code, message} document."""
    net.spec = msgspec.structs.replace(net.spec, chaincodes=[msgspec.structs.replace(net.spec.chaincodes[0], workload=""), *net.spec.chaincodes[1:]])
    with pytest.raises(LedgerError) as refused:
        run_benchmark(net, 1, [0.0], 1, quiet=True, report_dir=None)
    assert refused.value.code == "NO_WORKLOAD" and net.chaincode_name in refused.value.message

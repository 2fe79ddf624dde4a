"""The console's live verify (`webapp.verify_job` → `verify_network(live_peers=...)` → each
running peer's `verify_chain` on a snapshot) covers history and the tx index, not only the
savepoint and state: an edited row of either, on a running network, is named with its key."""

from __future__ import annotations

import sqlite3
import time

from netkit import submit, wait_in_sync

from ledger.node.layout import NetworkLayout
from ledger.node.network import Network
from webapp.chain import Chain
from webapp.verify_job import VerifyJob, VerifyState

VERIFY_WAIT_S = 120.0
VICTIM = "peer1.Org2"


def _console_verify(net: Network) -> VerifyState:
    job = VerifyJob(Chain(net))
    job.start()
    assert job.wait(VERIFY_WAIT_S), "the console's verify did not end"
    return job.state()


def _edit(net: Network, sql: str, *params: object) -> None:
    """Change one row of a running peer's state database behind its back."""
    with sqlite3.connect(NetworkLayout(net.data_dir).state_sqlite(VICTIM), timeout=30) as db:
        assert db.execute(sql, params).rowcount == 1


def _story(net: Network) -> str:
    alice = net.enroll("Org1", "alice")
    submit(net, alice, "userRegister", "Alice", "A")
    topup = submit(net, alice, "userTopup", "A", 100)
    wait_in_sync(net)
    return topup.tx_id


def test_live_verify_names_an_edited_history_row(any_net: Network) -> None:
    net = any_net
    _story(net)
    assert _console_verify(net).ok, "a sound running network must verify"
    _edit(
        net,
        "UPDATE history SET value = CAST(? AS BLOB) WHERE key = ? AND block = (SELECT MAX(block) FROM history WHERE key = ?)",
        b'{"Id": "A", "Token": 999999}',
        "powerdata/user/A",
        "powerdata/user/A",
    )
    state = _console_verify(net)
    assert state.ok is False
    assert any(p.startswith(f"{VICTIM}: history row 'powerdata/user/A/") and "differs" in p for p in state.problems), state.problems
    assert {n["node"]: n["problems"] for n in state.nodes}[VICTIM] == 1


def test_live_verify_names_an_edited_tx_index_row_while_commits_go_on(any_net: Network) -> None:
    net = any_net
    tx_id = _story(net)
    _edit(net, "UPDATE txindex SET code = 11 WHERE tx_id = ?", tx_id)  # VALID → MVCC_READ_CONFLICT
    bob = net.enroll("Org1", "bob")
    started = time.monotonic()
    submit(net, bob, "userRegister", "Bob", "B")  # commits go on around the verify
    state = _console_verify(net)
    submit(net, bob, "userTopup", "B", 5)
    assert time.monotonic() - started < VERIFY_WAIT_S
    assert state.ok is False
    assert f"{VICTIM}: txindex row {tx_id!r}: value or version differs from what the blocks wrote" in state.problems, state.problems
    assert all(p.startswith(VICTIM) for p in state.problems), state.problems  # no false alarm on the others

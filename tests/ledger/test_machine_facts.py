"""Each bench report says what machine it measured (`ledger.tools.machine`): figures from
machines of one kind differ by up to 2x, and the Ed25519 unit costs tell them apart."""

from __future__ import annotations

import os

from ledger.tools.machine import describe, machine_facts


def test_the_machine_facts_are_measured_here_and_read_as_one_line() -> None:
    facts = machine_facts()
    assert set(facts) == {"cpu", "cores", "python", "ed25519_verify_us", "ed25519_sign_us", "load_1m_before"}
    assert facts["cores"] == os.cpu_count() and facts["cpu"]
    # a real measurement: an Ed25519 check costs tens of microseconds, never nothing
    assert 1.0 < facts["ed25519_verify_us"] < 5_000 and 1.0 < facts["ed25519_sign_us"] < 5_000
    line = describe(facts)
    assert f"verify {facts['ed25519_verify_us']} µs" in line and f"{facts['cores']} cores" in line


def test_a_report_without_machine_facts_describes_nothing() -> None:
    for missing in (None, {}, "a string", 7, ["list"]):
        assert describe(missing) == ""

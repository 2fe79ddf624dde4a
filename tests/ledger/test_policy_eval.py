"""Endorsement policies: parsing once, evaluating against distinct signers."""

from __future__ import annotations

import pytest

from ledger.core.identity import CertificateAuthority, Identity
from ledger.core.policy import PolicyError, parse_policy

PEER_ORGS = ("Org1", "Org2", "Org3")
_CAS = {org: CertificateAuthority.generate(org) for org in ("Org1", "Org2", "Org3", "Regulator")}


def who(spec: str) -> Identity:
    """'Org1.peer' or 'Org1.peer#2' (a second identity with the same org and role)."""
    principal, _, n = spec.partition("#")
    org, role = principal.split(".")
    return _CAS[org].issue(f"{role}{n or '0'}", role).identity


@pytest.mark.parametrize(
    "policy, signers, satisfied",
    [
        ("AND('Org1.peer', 'Org2.peer')", ["Org1.peer", "Org2.peer"], True),
        ("AND('Org1.peer', 'Org2.peer')", ["Org1.peer"], False),
        ("AND('Org1.peer', 'Org2.peer')", ["Org1.peer", "Org1.peer#1"], False),
        ("AND('Org1.peer', 'Org2.peer')", ["Org1.admin", "Org2.peer"], False),
        ("OR('Org1.peer', 'Org2.peer')", ["Org2.peer"], True),
        ("OR('Org1.peer', 'Org2.peer')", ["Org3.peer"], False),
        ("OR('Org1.peer', 'Org2.peer')", [], False),
        ("OutOf(2, 'Org1.peer', 'Org2.peer', 'Org3.peer')", ["Org1.peer", "Org3.peer"], True),
        ("OutOf(2, 'Org1.peer', 'Org2.peer', 'Org3.peer')", ["Org3.peer"], False),
        ("MAJORITY", ["Org1.peer", "Org2.peer"], True),
        ("MAJORITY", ["Org1.peer", "Org1.peer#1"], False),
        ("ANY", ["Org3.peer"], True),
        ("ANY", ["Org3.admin"], False),
        ("OR('Regulator.admin')", ["Regulator.admin"], True),
        ("OR('Regulator.admin')", ["Regulator.client"], False),
        ("OR('Regulator.member')", ["Regulator.client"], True),
        ("AND('Org1.member', OR('Org2.peer', 'Org3.peer'))", ["Org1.client", "Org3.peer"], True),
        ("AND('Org1.member', OR('Org2.peer', 'Org3.peer'))", ["Org1.client", "Org1.peer"], False),
    ],
)
def test_policy_evaluation(policy: str, signers: list[str], satisfied: bool) -> None:
    assert parse_policy(policy, PEER_ORGS).satisfied_by([who(s) for s in signers]) is satisfied


def test_same_signer_cannot_count_twice() -> None:
    org1_peer = who("Org1.peer")
    assert not parse_policy("AND('Org1.peer', 'Org1.peer')").satisfied_by([org1_peer, org1_peer])
    assert not parse_policy("OutOf(2, 'Org1.member', 'Org1.peer')").satisfied_by([org1_peer, org1_peer])
    assert parse_policy("AND('Org1.peer', 'Org1.peer')").satisfied_by([org1_peer, who("Org1.peer#1")])


def test_assignment_backtracks_when_a_greedy_match_would_fail() -> None:
    # Org1.peer could serve either principal; it must be used for the second one.
    policy = parse_policy("AND('Org1.member', 'Org1.peer')")
    assert policy.satisfied_by([who("Org1.peer"), who("Org1.client")])


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("AND('Org1.peer'", "ends too early"),
        ("AND('Org1.peer',)", "unexpected"),
        ("OR('Org1.king')", "must be 'Org.role'"),
        ("OR('peer')", "must be 'Org.role'"),
        ("OutOf(3, 'Org1.peer', 'Org2.peer')", "between 1 and 2"),
        ("OutOf(0, 'Org1.peer')", "between 1 and 1"),
        ("XOR('Org1.peer')", "unexpected"),
        ("OR('Org1.peer') OR('Org2.peer')", "after the policy"),
        ("", "ends too early"),
    ],
)
def test_parse_errors_say_what_is_wrong(text: str, fragment: str) -> None:
    with pytest.raises(PolicyError, match=fragment.replace("(", r"\(")):
        parse_policy(text, PEER_ORGS)


def test_majority_without_peer_orgs_is_a_parse_error() -> None:
    with pytest.raises(PolicyError, match="at least one peer organization"):
        parse_policy("MAJORITY", ())


def test_two_certificates_of_one_identity_count_once_the_last_one_given() -> None:
    """Signers are distinct by identity id (org/name): a renewed certificate of the same name
    with another role is the same signer, and the last certificate given is the one judged."""
    ca = _CAS["Org1"]
    as_peer, as_admin = ca.issue("node7", "peer").identity, ca.issue("node7", "admin").identity
    assert as_peer.id == as_admin.id
    needs_two = parse_policy("AND('Org1.peer', 'Org1.admin')")
    assert not needs_two.satisfied_by([as_peer, as_admin])
    admin_only = parse_policy("OR('Org1.admin')")
    assert admin_only.satisfied_by([as_peer, as_admin])
    assert not admin_only.satisfied_by([as_admin, as_peer])

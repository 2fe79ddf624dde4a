"""A hypothesis state machine that runs random call sequences against the reference model and a system under test.

The system under test is any driver with `call(function, args, parties, *, approved=True)
-> (ok, result_or_code)`, where parties are identity labels (the machine registers user
"u1" signed by label "u1", and so on). `make_machine(driver_factory)` returns the test class;
the fake-ledger driver lives in tests/fake_context.py, a real-network driver can be plugged
in the same way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, Protocol

from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from chaincode.power_data.model import PowerDataModel

USER_IDS = ("u1", "u2", "u3", "u4")
ASSET_IDS = ("a1", "a2", "a3", "a4", "a5")
CONTENTS = ("load-curve", "meter-readings", "")  # few, so re-publishing happens; "" = the asset's own content
AMOUNTS = ("0", "1", "7", "50", "x", "-3")
VALUES = ("0", "5", "20", "80", "-1")


class Driver(Protocol):
    def call(self, function: str, args: tuple[str, ...] | list[str], parties: tuple[str, ...] | list[str] = (), *, approved: bool = True) -> tuple[bool, Any]: ...


def metadata_for(content: str) -> str:
    return json.dumps({"sha256": hashlib.sha256(content.encode()).hexdigest(), "format": "csv"})


users = st.sampled_from(USER_IDS)
assets = st.sampled_from(ASSET_IDS)
party_sets = st.lists(users, max_size=2, unique=True)
mostly_true = st.sampled_from((True, True, True, False))
FOUNDERS = USER_IDS[:3]  # registered and funded before the random steps; USER_IDS[3] is left to chance
FOUNDING_TOKENS = "100"
FOUNDING_ASSETS = (("a1", "u1", "20"), ("a2", "u2", "5"))  # (assetId, issuer, value) enrolled before the random steps


def make_machine(driver_factory: Callable[[], Driver]) -> type[RuleBasedStateMachine]:
    """The state machine class comparing `driver_factory()` against PowerDataModel."""

    class ContractMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.model = PowerDataModel()
            self.sut = driver_factory()
            self.seen_users: set[str] = set()

        def both(self, function: str, args: tuple[str, ...], parties: list[str], approved: bool = True) -> tuple[bool, Any]:
            want_ok, want = self.model.call(function, args, parties, approved=approved)
            got_ok, got = self.sut.call(function, args, parties, approved=approved)
            assert (got_ok, got if not got_ok else None) == (want_ok, want if not want_ok else None), (
                f"{function}{args} signed by {parties}: model {'ok' if want_ok else want}, system {'ok' if got_ok else got}"
            )
            event(f"{function}: {'ok' if want_ok else want}")
            if want_ok and function == "userRegister":
                self.seen_users.add(args[1])
            return got_ok, got

        def signers(self, actor: str, honest: bool, others: list[str]) -> list[str]:
            return [actor] if honest else others

        @initialize()
        def founders(self) -> None:
            for user in FOUNDERS:
                self.both("userRegister", ("User " + user, user), [user])
                self.both("userTopup", (user, FOUNDING_TOKENS), [user])
            for asset, issuer, value in FOUNDING_ASSETS:
                self.both("assetsEnroll", ("Dataset " + asset, asset, metadata_for("own " + asset), issuer, value), [issuer])

        @rule(user=users, party=users, named=st.booleans())
        def register(self, user: str, party: str, named: bool) -> None:
            self.both("userRegister", ("User " + user if named else " ", user), [party])

        @rule(user=users, amount=st.sampled_from(AMOUNTS), honest=mostly_true, parties=party_sets)
        def topup(self, user: str, amount: str, honest: bool, parties: list[str]) -> None:
            self.both("userTopup", (user, amount), self.signers(user, honest, parties))

        @rule(user=users, honest=st.sampled_from((True, False, False)), parties=party_sets)
        def delete(self, user: str, honest: bool, parties: list[str]) -> None:
            self.both("deleteUser", (user,), self.signers(user, honest, parties))

        @rule(asset=assets, content=st.sampled_from(CONTENTS), owner=users, value=st.sampled_from(VALUES), honest=mostly_true, parties=party_sets)
        def enroll(self, asset: str, content: str, owner: str, value: str, honest: bool, parties: list[str]) -> None:
            args = ("Dataset " + asset, asset, metadata_for(content or "own " + asset), owner, value)
            self.both("assetsEnroll", args, self.signers(owner, honest, parties))

        def known_asset(self, data: st.DataObject) -> str:
            """Mostly an enrolled asset (so purchases get far), sometimes any id."""
            known = sorted(self.model.assets)
            return data.draw(st.sampled_from(known) if known and data.draw(mostly_true) else assets, label="asset")

        @rule(data=st.data(), both_sign=mostly_true, honest=mostly_true)
        def exchange(self, data: st.DataObject, both_sign: bool, honest: bool) -> None:
            """A purchase or transfer, mostly from someone who publishes or holds the asset."""
            asset = self.known_asset(data)
            sellers = sorted(u for u, user in self.model.users.items() if asset in user.assets + user.issues)
            seller = data.draw(st.sampled_from(sellers) if sellers and honest else users, label="seller")
            buyer = data.draw(users, label="buyer")
            parties = {buyer, seller} if both_sign else ({buyer} if honest else {seller})
            self.both("assetsExchange", (asset, seller, buyer), sorted(parties))

        @rule(data=st.data(), honest=mostly_true)
        def report(self, data: st.DataObject, honest: bool) -> None:
            """A publisher reports another asset as a re-publication of its own."""
            original, copy = self.known_asset(data), self.known_asset(data)
            reporter = self.model.assets[original].issuer if original in self.model.assets and honest else data.draw(users)
            self.both("assetsReport", (original, copy, reporter), [reporter])

        @rule(data=st.data(), issuer=users, honest=mostly_true, parties=party_sets)
        def cancel(self, data: st.DataObject, issuer: str, honest: bool, parties: list[str]) -> None:
            asset = self.known_asset(data)
            self.both("assetsCancel", (asset, issuer), self.signers(issuer, honest, parties))

        @rule(function=st.sampled_from(("userTopup", "assetsCancel", "nope")), user=users)
        def unapproved_or_malformed(self, function: str, user: str) -> None:
            self.both(function, (user, "5"), [user], approved=False)

        @rule(data=st.data(), query_type=st.sampled_from(("enroll", "exchange", "all", "sale")))
        def history(self, data: st.DataObject, query_type: str) -> None:
            asset = self.known_asset(data)
            ok, got = self.both("assetsExchangeHistory", (asset, query_type), [])
            if ok:
                want = self.model.history_of((), asset, query_type)
                assert [(e["Type"], e["OriginalOwnerId"], e["CurrentOwnerId"]) for e in got] == want

        @rule(data=st.data())
        def asset_state(self, data: st.DataObject) -> None:
            asset = self.known_asset(data)
            ok, got = self.both("queryAsset", (asset,), [])
            if ok:
                want = self.model.assets[asset]
                assert (got["IsValid"], got["Value"], got["IssuerId"]) == (want.valid, want.value, want.issuer)

        @invariant()
        def users_agree_and_tokens_are_conserved(self) -> None:
            total = 0
            for user_id in sorted(self.seen_users):
                ok, got = self.sut.call("queryUser", (user_id,), [])
                assert ok, f"queryUser {user_id}: {got}"
                want = self.model.users[user_id]
                seen = (got["Token"], got["Assets"], got["Issues"], got["UnIssues"], got["Deleted"])
                assert seen == (want.token, want.assets, want.issues, want.unissues, want.deleted), user_id
                total += got["Token"]
            assert total == self.model.topped_up, "tokens were created or destroyed outside top-ups"

    return ContractMachine

"""The power-data contract on the in-memory ledger: the seed paper's story, every refusal code, and the shim."""

from __future__ import annotations

import hashlib
import json

import pytest
from fake_context import FakeContext, FakeDriver, Identities

from chaincode.power_data.contract import PowerDataContract
from chaincode.power_data.errors import BALANCE_MAX, LIST_ASSETS_MAX, QUERY_FUNCTIONS, WRITE_FUNCTIONS, Code
from chaincode.power_data.model import PowerDataModel
from ledger.execute.chaincode_api import ChaincodeRefusal

IDENTITIES = Identities()


def meta(content: str) -> str:
    """Metadata as the console writes it: the off-ledger file's SHA-256 plus a description."""
    return json.dumps({"sha256": hashlib.sha256(content.encode()).hexdigest(), "format": "csv", "description": content})


def ok(net: FakeDriver, function: str, args: tuple[str, ...], parties: tuple[str, ...] = ()) -> object:
    success, result = net.call(function, args, parties)
    assert success, f"{function}{args} refused: {result}"
    return result


def balances(net: FakeDriver, *user_ids: str) -> list[int]:
    return [ok(net, "queryUser", (u,))["Token"] for u in user_ids]  # type: ignore[index]


def fresh() -> FakeDriver:
    return FakeDriver(PowerDataContract(approver_org="Regulator"), IDENTITIES)


def base() -> FakeDriver:
    """A: publishes S1 (30) and cancelled S2; B: 100 tokens, bought S1; C: deleted; D: no tokens; E: never registered."""
    net = fresh()
    for user in "ABCD":
        ok(net, "userRegister", (f"User {user}", user), (user,))
    ok(net, "userTopup", ("B", "100"), ("B",))
    ok(net, "assetsEnroll", ("Load curve", "S1", meta("load curve 2023"), "A", "30"), ("A",))
    ok(net, "assetsEnroll", ("Old readings", "S2", meta("readings 2019"), "A", "10"), ("A",))
    ok(net, "assetsCancel", ("S2", "A"), ("A",))
    ok(net, "assetsExchange", ("S1", "A", "B"), ("B",))
    ok(net, "deleteUser", ("C",), ("C",))
    return net


def test_paper_story_publish_buy_transfer_republish_cancel_delete() -> None:
    net = fresh()
    for user, tokens in (("A", "10"), ("B", "100"), ("C", "100"), ("D", "100")):
        ok(net, "userRegister", (f"User {user}", user), (user,))
        ok(net, "userTopup", (user, tokens), (user,))
    ok(net, "assetsEnroll", ("Load curve", "S", meta("substation load"), "A", "30"), ("A",))
    ok(net, "assetsEnroll", ("Meter dump", "T", meta("meter dump"), "A", "5"), ("A",))
    assert balances(net, "A", "B", "C", "D") == [10, 100, 100, 100]

    bought = ok(net, "assetsExchange", ("S", "A", "B"), ("B",))
    assert bought["Mode"] == "copy" and bought["Seller"]["Issues"] == ["S", "T"]  # type: ignore[index]
    assert balances(net, "A", "B", "C", "D") == [40, 70, 100, 100]

    assert net.call("assetsExchange", ("S", "B", "C"), ("C",)) == (False, Code.MISSING_CONSENT)
    moved = ok(net, "assetsExchange", ("S", "B", "C"), ("B", "C"))
    assert moved["Mode"] == "transfer" and moved["Seller"]["Assets"] == [] and moved["Buyer"]["Assets"] == ["S"]  # type: ignore[index]
    assert balances(net, "A", "B", "C", "D") == [40, 100, 70, 100]

    ok(net, "assetsExchange", ("S", "A", "B"), ("B",))  # B buys another copy from the publisher
    assert net.call("assetsEnroll", ("My curve", "S-copy", meta("substation load"), "B", "1"), ("B",)) == (False, Code.DUPLICATE_CONTENT)
    assert balances(net, "A", "B", "C", "D") == [70, 70, 70, 100]

    ok(net, "assetsCancel", ("S", "A"), ("A",))
    assert net.call("assetsExchange", ("S", "A", "D"), ("D",)) == (False, Code.ASSET_NOT_ON_SALE)
    assert ok(net, "queryUser", ("B",))["Assets"] == ["S"] and ok(net, "queryUser", ("C",))["Assets"] == ["S"]  # type: ignore[index]
    assert ok(net, "queryAsset", ("S",))["IsValid"] is False  # type: ignore[index]

    deleted = ok(net, "deleteUser", ("A",), ("A",))
    assert deleted["Cancelled"] == ["T"] and deleted["User"]["UnIssues"] == ["S", "T"] and deleted["User"]["Deleted"]  # type: ignore[index]
    assert ok(net, "queryAsset", ("T",))["IsValid"] is False  # type: ignore[index]
    assert ok(net, "queryUser", ("C",))["Assets"] == ["S"]  # type: ignore[index]
    assert net.call("userRegister", ("Again", "A"), ("A",)) == (False, Code.USER_EXISTS)
    assert sum(balances(net, "A", "B", "C", "D")) == 310  # tokens conserved: only top-ups add

    history = {q: ok(net, "assetsExchangeHistory", ("S", q)) for q in ("enroll", "exchange", "all")}
    hops = [(e["OriginalOwnerId"], e["CurrentOwnerId"]) for e in history["all"]]  # type: ignore[union-attr]
    assert hops == [("firstIssueTag", "A"), ("A", "B"), ("B", "C"), ("A", "B")]
    assert [e["Type"] for e in history["enroll"]] == ["enroll"]  # type: ignore[union-attr]
    assert [e.get("Mode") for e in history["exchange"]] == ["copy", "transfer", "copy"]  # type: ignore[union-attr]
    assert all(e["TxId"] and e["Timestamp"] for e in history["all"])  # type: ignore[union-attr]
    assert [name for name, _ in net.ledger.events][-1] == "deleteUser"


M = meta("fresh data")
REFUSALS = [
    # (case, function, args, parties, approved, outcome)
    ("unknown function", "assetsBurn", ("S1",), ("A",), True, Code.UNKNOWN_FUNCTION),
    ("too few arguments", "userTopup", ("B",), ("B",), True, Code.BAD_ARGUMENTS),
    ("no approval", "userTopup", ("B", "5"), ("B",), False, Code.MISSING_ADMIN_APPROVAL),
    ("blank name", "userRegister", ("   ", "F"), ("F",), True, Code.INVALID_NAME),
    ("over-long name", "userRegister", ("n" * 65, "F"), ("F",), True, Code.INVALID_NAME),
    ("empty id", "userRegister", ("Frank", ""), ("F",), True, Code.INVALID_ID),
    ("id with a slash", "userRegister", ("Frank", "F/1"), ("F",), True, Code.INVALID_ID),
    ("reserved id", "userRegister", ("Frank", "firstIssueTag"), ("F",), True, Code.INVALID_ID),
    ("id taken", "userRegister", ("Another A", "A"), ("F",), True, Code.USER_EXISTS),
    ("id of a deleted user", "userRegister", ("New C", "C"), ("C",), True, Code.USER_EXISTS),
    ("registration signed by two", "userRegister", ("Frank", "F"), ("F", "A"), True, Code.NOT_AUTHORIZED),
    ("registration signed by none", "userRegister", ("Frank", "F"), (), True, Code.NOT_AUTHORIZED),
    ("zero top-up", "userTopup", ("B", "0"), ("B",), True, Code.INVALID_AMOUNT),
    ("negative top-up", "userTopup", ("B", "-5"), ("B",), True, Code.INVALID_AMOUNT),
    ("fractional top-up", "userTopup", ("B", "1.5"), ("B",), True, Code.INVALID_AMOUNT),
    ("huge top-up", "userTopup", ("B", str(10**12 + 1)), ("B",), True, Code.INVALID_AMOUNT),
    ("top-up of unknown user", "userTopup", ("E", "5"), ("E",), True, Code.USER_NOT_FOUND),
    ("top-up of deleted user", "userTopup", ("C", "5"), ("C",), True, Code.USER_DELETED),
    ("top-up signed by another", "userTopup", ("B", "5"), ("A",), True, Code.NOT_AUTHORIZED),
    ("delete signed by another", "deleteUser", ("A",), ("B",), True, Code.NOT_AUTHORIZED),
    ("delete twice", "deleteUser", ("C",), ("C",), True, Code.USER_DELETED),
    ("delete unknown", "deleteUser", ("E",), ("E",), True, Code.USER_NOT_FOUND),
    ("enroll existing id", "assetsEnroll", ("X", "S1", M, "A", "1"), ("A",), True, Code.ASSET_EXISTS),
    ("enroll negative value", "assetsEnroll", ("X", "S9", M, "A", "-1"), ("A",), True, Code.INVALID_VALUE),
    ("enroll fractional value", "assetsEnroll", ("X", "S9", M, "A", "2.5"), ("A",), True, Code.INVALID_VALUE),
    ("enroll empty metadata", "assetsEnroll", ("X", "S9", "", "A", "1"), ("A",), True, Code.INVALID_METADATA),
    ("enroll bad sha256", "assetsEnroll", ("X", "S9", '{"sha256": "abc"}', "A", "1"), ("A",), True, Code.INVALID_METADATA),
    ("enroll huge metadata", "assetsEnroll", ("X", "S9", "x" * (64 * 1024 + 1), "A", "1"), ("A",), True, Code.INVALID_METADATA),
    ("enroll for unknown owner", "assetsEnroll", ("X", "S9", M, "E", "1"), ("E",), True, Code.USER_NOT_FOUND),
    ("enroll for deleted owner", "assetsEnroll", ("X", "S9", M, "C", "1"), ("C",), True, Code.USER_DELETED),
    ("enroll signed by another", "assetsEnroll", ("X", "S9", M, "A", "1"), ("B",), True, Code.NOT_AUTHORIZED),
    ("re-publish bought content", "assetsEnroll", ("X", "S9", meta("load curve 2023"), "B", "1"), ("B",), True, Code.DUPLICATE_CONTENT),
    ("re-publish cancelled content", "assetsEnroll", ("X", "S9", meta("readings 2019"), "D", "1"), ("D",), True, Code.DUPLICATE_CONTENT),
    ("buy unknown asset", "assetsExchange", ("S9", "A", "D"), ("D",), True, Code.ASSET_NOT_FOUND),
    ("buy from yourself", "assetsExchange", ("S1", "B", "B"), ("B",), True, Code.SAME_USER),
    ("buyer did not sign", "assetsExchange", ("S1", "A", "D"), ("A",), True, Code.NOT_AUTHORIZED),
    ("buy cancelled asset", "assetsExchange", ("S2", "A", "B"), ("B",), True, Code.ASSET_NOT_ON_SALE),
    ("buy again", "assetsExchange", ("S1", "A", "B"), ("B",), True, Code.ALREADY_HOLDS),
    ("issuer buys back", "assetsExchange", ("S1", "B", "A"), ("A", "B"), True, Code.BUYER_IS_ISSUER),
    ("buyer already holds (checked before the seller)", "assetsExchange", ("S1", "D", "B"), ("B", "D"), True, Code.ALREADY_HOLDS),
    ("buy for a deleted buyer", "assetsExchange", ("S1", "D", "C"), ("C", "D"), True, Code.USER_DELETED),
    ("buyer too poor", "assetsExchange", ("S1", "A", "D"), ("D",), True, Code.INSUFFICIENT_BALANCE),
    ("resale without seller consent", "assetsExchange", ("S1", "B", "D"), ("D",), True, Code.MISSING_CONSENT),
    ("buy from deleted seller", "assetsExchange", ("S1", "C", "D"), ("D",), True, Code.USER_DELETED),
    ("cancel by non-issuer", "assetsCancel", ("S1", "B"), ("B",), True, Code.NOT_ISSUER),
    ("cancel twice", "assetsCancel", ("S2", "A"), ("A",), True, Code.ASSET_NOT_ON_SALE),
    ("cancel signed by another", "assetsCancel", ("S1", "A"), ("B",), True, Code.NOT_AUTHORIZED),
    ("history of unknown asset", "assetsExchangeHistory", ("S9", "all"), (), True, Code.ASSET_NOT_FOUND),
    ("history bad type", "assetsExchangeHistory", ("S1", "sales"), (), True, Code.INVALID_QUERY_TYPE),
    ("query unknown user", "queryUser", ("E",), (), True, Code.USER_NOT_FOUND),
    ("query unknown asset", "queryAsset", ("S9",), (), True, Code.ASSET_NOT_FOUND),
    ("report by non-issuer", "assetsReport", ("S1", "S2", "B"), ("B",), True, Code.NOT_ISSUER),
    ("report a copy no longer on sale", "assetsReport", ("S1", "S2", "A"), ("A",), True, Code.ASSET_NOT_ON_SALE),
    ("list with bad flag", "listAssets", ("yes", ""), (), True, Code.BAD_ARGUMENTS),
]


@pytest.mark.parametrize(("case", "function", "args", "parties", "approved", "outcome"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refusals_leave_state_unchanged(case: str, function: str, args: tuple[str, ...], parties: tuple[str, ...], approved: bool, outcome: Code) -> None:
    net = base()
    before = dict(net.ledger.state)
    assert net.call(function, args, parties, approved=approved) == (False, outcome)
    assert net.ledger.state == before


def test_seller_that_neither_publishes_nor_holds() -> None:
    net = base()
    ok(net, "userTopup", ("D", "50"), ("D",))
    assert net.call("assetsExchange", ("S1", "D", "A"), ("A", "D")) == (False, Code.BUYER_IS_ISSUER)
    ok(net, "userRegister", ("User F", "F"), ("F",))
    assert net.call("assetsExchange", ("S1", "D", "F"), ("D", "F")) == (False, Code.SELLER_DOES_NOT_HOLD)


def test_every_code_is_exercised() -> None:
    exercised = {row[-1] for row in REFUSALS} | {Code.SELLER_DOES_NOT_HOLD, Code.REPORT_NOT_UPHELD, Code.BALANCE_LIMIT}
    assert exercised == set(Code)


@pytest.mark.parametrize(
    ("approver", "outcome"),
    [("regulator admin", True), ("regulator client", Code.MISSING_ADMIN_APPROVAL), ("other org admin", Code.MISSING_ADMIN_APPROVAL)],
)
def test_only_a_regulator_admin_approves(approver: str, outcome: object) -> None:
    net = base()
    who = {"regulator admin": IDENTITIES.admin, "regulator client": IDENTITIES.regulator_client, "other org admin": IDENTITIES.org2_admin}[approver]
    signoffs = IDENTITIES.signoffs(("B",), who)
    success, result = net.ledger.call("userTopup", ("B", "5"), IDENTITIES.client("B"), signoffs)
    assert (success if success else result) == outcome


def test_balance_limit_refuses_top_up_and_sale() -> None:
    net = base()
    a = json.loads(net.ledger.state["user/A"])
    a["Token"] = BALANCE_MAX - 10  # reaching it by top-ups would take 9,000 calls
    net.ledger.state["user/A"] = json.dumps(a).encode()
    ok(net, "userTopup", ("D", "50"), ("D",))
    assert net.call("userTopup", ("A", "11"), ("A",)) == (False, Code.BALANCE_LIMIT)
    assert net.call("assetsExchange", ("S1", "A", "D"), ("D",)) == (False, Code.BALANCE_LIMIT)


def republished() -> FakeDriver:
    """base(), then B (who bought S1) enrolls S1x: the same data, altered so its hash differs."""
    net = base()
    ok(net, "assetsEnroll", ("B's curve", "S1x", meta("load curve 2023 (edited)"), "B", "5"), ("B",))
    return net


def test_upheld_report_cancels_the_copy() -> None:
    net = republished()
    result = ok(net, "assetsReport", ("S1", "S1x", "A"), ("A",))
    assert result["Asset"]["IsValid"] is False and result["Report"]["AccusedId"] == "B"  # type: ignore[index]
    b = ok(net, "queryUser", ("B",))
    assert b["Issues"] == [] and b["UnIssues"] == ["S1x"] and b["Assets"] == ["S1"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("case", "original", "copy", "reporter", "outcome"),
    [
        ("copy enrolled before the original", "S3", "S1x", "G", Code.REPORT_NOT_UPHELD),
        ("accused never held the original", "S2", "S1x", "A", Code.REPORT_NOT_UPHELD),
        ("original reported against itself", "S1", "S1", "A", Code.REPORT_NOT_UPHELD),
        ("reporter is not the original's issuer", "S1", "S1x", "D", Code.NOT_ISSUER),
    ],
)
def test_report_refusals(case: str, original: str, copy: str, reporter: str, outcome: Code) -> None:
    net = republished()
    ok(net, "userRegister", ("User G", "G"), ("G",))
    ok(net, "assetsEnroll", ("Later", "S3", meta("later data"), "G", "1"), ("G",))
    before = dict(net.ledger.state)
    assert net.call("assetsReport", (original, copy, reporter), (reporter,)) == (False, outcome)
    assert net.ledger.state == before


def test_plain_metadata_is_hashed_and_json_sha256_is_taken() -> None:
    net = base()
    plain = ok(net, "assetsEnroll", ("Notes", "N1", "peak at 18:00", "A", "0"), ("A",))
    assert plain["ContentHash"] == hashlib.sha256(b"peak at 18:00").hexdigest()  # type: ignore[index]
    named = ok(net, "assetsEnroll", ("File", "N2", json.dumps({"sha256": "AB" * 32}), "A", "0"), ("A",))
    assert named["ContentHash"] == "ab" * 32  # type: ignore[index]
    assert ok(net, "assetsEnroll", ("Same file again", "N3", json.dumps({"sha256": "ab" * 32}), "A", "0"), ("A",))


def test_bad_arguments_message_names_the_parameters() -> None:
    net = base()
    ctx = FakeContext(net.ledger, "assetsEnroll", ("S",), IDENTITIES.admin, IDENTITIES.signoffs(("A",), IDENTITIES.admin), "t", 1)
    with pytest.raises(ChaincodeRefusal) as refusal:
        net.ledger.chaincode.invoke(ctx)
    assert "assetName, assetId, metadata, ownerId, value" in refusal.value.message


def test_list_assets_pages_and_filters() -> None:
    net = base()
    for i in range(LIST_ASSETS_MAX + 5):
        ok(net, "assetsEnroll", (f"Set {i}", f"L{i:04d}", meta(f"set {i}"), "A", "1"), ("A",))
    first = ok(net, "listAssets", ("false", ""))
    assert len(first["Assets"]) == LIST_ASSETS_MAX and first["Next"]  # type: ignore[index]
    second = ok(net, "listAssets", ("false", first["Next"]))  # type: ignore[index]
    assert len(second["Assets"]) == 7 and second["Next"] == ""  # type: ignore[index]
    on_sale = ok(net, "listAssets", ("true", first["Next"]))  # type: ignore[index]
    assert "S2" not in [a["Id"] for a in on_sale["Assets"]] and len(on_sale["Assets"]) == 6  # type: ignore[index]


def test_model_agrees_on_the_story_codes() -> None:
    model = PowerDataModel()
    for user in "ABC":
        model.call("userRegister", (user, user), (user,))
        model.call("userTopup", (user, "100"), (user,))
    model.call("assetsEnroll", ("S", "S", meta("s"), "A", "30"), ("A",))
    model.call("assetsExchange", ("S", "A", "B"), ("B",))
    assert model.call("assetsExchange", ("S", "B", "C"), ("C",)) == (False, Code.MISSING_CONSENT)
    assert model.call("assetsEnroll", ("S", "S2", meta("s"), "B", "1"), ("B",)) == (False, Code.DUPLICATE_CONTENT)
    assert model.balances() == {"A": 130, "B": 70, "C": 100}


def test_function_tables_match_the_contract() -> None:
    kinds = {name: spec.kind for name, spec in PowerDataContract.functions.items()}
    assert {n for n, k in kinds.items() if k == "transaction"} == set(WRITE_FUNCTIONS)
    assert {n for n, k in kinds.items() if k == "query"} == set(QUERY_FUNCTIONS)


# --- seller credits: purchases from one publisher do not conflict ---------------------------


def test_copy_purchase_reads_but_never_writes_the_publisher_or_the_asset() -> None:
    net = base()
    ok(net, "userTopup", ("D", "50"), ("D",))
    ctx = FakeContext(net.ledger, "assetsExchange", ("S1", "A", "D"), IDENTITIES.client("D"), IDENTITIES.signoffs(("D",), IDENTITIES.admin), "txcopy", 2)
    net.ledger.chaincode.invoke(ctx)
    assert {"user/A", "asset/S1", "user/D"} <= ctx.reads
    assert set(ctx.writes) == {"user/D", "credit/A/txcopy", "assethistory/S1/0000000000002/txcopy"}
    assert json.loads(ctx.writes["credit/A/txcopy"])["Amount"] == 30  # type: ignore[arg-type]
    assert ctx.ranges == [("credit/D/", "credit/D0")]  # only the buyer's own credits are scanned


def test_two_purchases_from_one_publisher_in_one_block_are_both_valid() -> None:
    net = base()
    for user in "DF":
        if user == "F":
            ok(net, "userRegister", ("User F", "F"), ("F",))
        ok(net, "userTopup", (user, "100"), (user,))
    outcomes = net.block([("assetsExchange", ("S1", "A", "D"), ("D",)), ("assetsExchange", ("S1", "A", "F"), ("F",))])
    assert [code for code, _ in outcomes] == ["VALID", "VALID"]
    assert balances(net, "A", "D", "F") == [90, 70, 70]  # 30 from B earlier, 2 x 30 now
    # the block model does see real conflicts: one buyer twice, or a publisher's own write racing a sale
    assert [c for c, _ in net.block([("userTopup", ("D", "1"), ("D",)), ("userTopup", ("D", "2"), ("D",))])] == ["VALID", "MVCC_READ_CONFLICT"]
    ok(net, "assetsEnroll", ("More", "S5", meta("more"), "A", "5"), ("A",))
    sale = ("assetsExchange", ("S5", "A", "D"), ("D",))
    topup = ("userTopup", ("A", "1"), ("A",))
    assert [c for c, _ in net.block([sale, topup])] == ["VALID", "PHANTOM_READ_CONFLICT"]
    assert [c for c, _ in net.block([topup, ("assetsExchange", ("S5", "A", "F"), ("F",))])] == ["VALID", "MVCC_READ_CONFLICT"]
    assert sum(balances(net, "A", "B", "D", "F")) == 100 + 100 + 100 + 1 + 1  # top-ups that were VALID only


def test_pending_credits_count_toward_a_purchase_and_fold_on_the_next_own_write() -> None:
    net = fresh()
    for user in "AB":
        ok(net, "userRegister", (f"User {user}", user), (user,))
    ok(net, "userTopup", ("B", "100"), ("B",))
    ok(net, "assetsEnroll", ("A's data", "SA", meta("a data"), "A", "30"), ("A",))
    ok(net, "assetsEnroll", ("B's data", "SB", meta("b data"), "B", "30"), ("B",))
    ok(net, "assetsExchange", ("SA", "A", "B"), ("B",))
    assert json.loads(net.ledger.state["user/A"])["Token"] == 0 and balances(net, "A") == [30]  # paid by a pending credit
    assert [k for k in net.ledger.state if k.startswith("credit/")] == ["credit/A/tx000006"]
    bought = ok(net, "assetsExchange", ("SB", "B", "A"), ("A",))  # A spends what it earned
    assert bought["Buyer"]["Token"] == 0 and "Token" not in bought["Seller"] and bought["Credit"]["Amount"] == 30  # type: ignore[index]
    assert [k for k in net.ledger.state if k.startswith("credit/")] == ["credit/B/tx000008"]  # A's folded, B's pending (the balances query above was tx000007)
    assert balances(net, "A", "B") == [0, 100]
    assert net.call("assetsEnroll", ("B's other", "SC", meta("c data"), "B", "1"), ("B",))[0]  # B's own write folds B
    assert [k for k in net.ledger.state if k.startswith("credit/")] == []
    assert json.loads(net.ledger.state["user/B"])["Token"] == 100


@pytest.mark.parametrize("write", ["userTopup", "deleteUser", "assetsCancel"])
def test_every_write_of_the_publisher_folds_its_credits(write: str) -> None:
    net = base()  # B bought S1 from A: A has one pending credit of 30
    assert [k for k in net.ledger.state if k.startswith("credit/A/")] and balances(net, "A") == [30]
    args = {"userTopup": ("A", "5"), "deleteUser": ("A",), "assetsCancel": ("S1", "A")}[write]
    ok(net, write, args, ("A",))
    assert not [k for k in net.ledger.state if k.startswith("credit/")]
    stored = json.loads(net.ledger.state["user/A"])["Token"]
    assert stored == balances(net, "A")[0] == (35 if write == "userTopup" else 30)

"""The founding paper's whole story, through the real embedded network (endorse → order → validate → commit)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from netkit import balance, meta, query, submit, wait_in_sync
from postgres_server import PostgresServer, postgres_server  # noqa: F401  (fixture)

from ledger.core.codes import ValidationCode
from ledger.core.identity import SigningIdentity
from ledger.gateway import EndorsementError, GatewayError
from ledger.node.network import Network
from ledger.storage.statedb import StateDB
from ledger.tools.verify import verify_network

_RUNS = itertools.count()

S_DATA = meta("substation-7 load curve, 2023, 15-min resolution")


def refused(net: Network, user: SigningIdentity, function: str, *args: str, cosign: tuple[SigningIdentity, ...] = ()) -> str:
    """Submit and return the refusal code; the ledger must not grow a valid transaction."""
    height = net.orderer.height
    with pytest.raises(GatewayError) as caught:
        submit(net, user, function, *args, cosign=cosign)
    assert isinstance(caught.value, EndorsementError)  # refused at endorsement: nothing ordered
    assert net.orderer.height == height
    return caught.value.code


def test_paper_story_publish_copy_transfer_republish_cancel_delete_history(any_net: Network) -> None:
    paper_story(any_net)


PEER_DATABASES = ["peer0_org1", "peer1_org1", "peer0_org2", "peer1_org2"]  # layout.state_url's names


@pytest.fixture
def postgres_net(network_dir: Path, postgres_server: PostgresServer) -> Iterator[tuple[Network, list[str]]]:  # noqa: F811
    """The embedded network with every peer's state in its own PostgreSQL database (and their URLs)."""
    prefix = f"story_{os.getpid()}_{next(_RUNS)}"
    urls = [postgres_server.create_database(f"{prefix}_{name}") for name in PEER_DATABASES]
    template = postgres_server.admin_url.rsplit("/", 1)[0] + f"/{prefix}_{{peer}}"
    network = Network.open(network_dir, state_url_template=template)
    yield network, urls
    network.close()
    for name in PEER_DATABASES:
        postgres_server.drop_database(f"{prefix}_{name}")


def test_paper_story_on_postgresql_through_the_whole_network(postgres_net: tuple[Network, list[str]]) -> None:
    net, urls = postgres_net
    paper_story(net)
    digests = set()
    for url in urls:  # the story's state really is in PostgreSQL, the same in every peer's database
        database = StateDB(url)
        try:
            assert sum(1 for _ in database.iter_state()) > 10
            digests.add(database.state_digest())
        finally:
            database.close()
    assert digests == {p.state_digest() for p in net.peers}


def paper_story(net: Network) -> None:
    alice, bob, carol, dave = (net.enroll(org, name) for org, name in (("Org1", "alice"), ("Org1", "bob"), ("Org2", "carol"), ("Org2", "dave")))

    def balances() -> dict[str, int]:
        return {u: balance(net, u) for u in ("A", "B", "C", "D")}

    for user, uid in ((alice, "A"), (bob, "B"), (carol, "C"), (dave, "D")):
        registered = submit(net, user, "userRegister", f"user {uid}", uid)
        assert registered.code == ValidationCode.VALID and registered.json()["Identity"] == user.id
    for user, uid in ((bob, "B"), (carol, "C"), (dave, "D")):
        submit(net, user, "userTopup", uid, 100)
    assert balances() == {"A": 0, "B": 100, "C": 100, "D": 100}

    # A publishes S.
    enrolled = submit(net, alice, "assetsEnroll", "Substation 7 load", "S", S_DATA, "A", 30)
    assert enrolled.json()["IsValid"] is True and query(net, "queryUser", "A")["Issues"] == ["S"]

    # B buys S from its publisher: a copy; A keeps it on sale.
    bought = submit(net, bob, "assetsExchange", "S", "A", "B")
    assert bought.json()["Mode"] == "copy" and bought.block > enrolled.block
    assert query(net, "queryUser", "B")["Assets"] == ["S"]
    assert query(net, "queryUser", "A")["Issues"] == ["S"] and query(net, "queryAsset", "S")["IsValid"] is True
    assert balances() == {"A": 30, "B": 70, "C": 100, "D": 100}

    # C buys from B: a transfer between holders needs B's and C's party signoffs.
    assert refused(net, carol, "assetsExchange", "S", "B", "C") == "MISSING_CONSENT"
    assert refused(net, bob, "assetsExchange", "S", "B", "C") == "NOT_AUTHORIZED"
    transferred = submit(net, carol, "assetsExchange", "S", "B", "C", cosign=(bob,))
    assert transferred.json()["Mode"] == "transfer"
    assert query(net, "queryUser", "C")["Assets"] == ["S"] and query(net, "queryUser", "B")["Assets"] == []
    assert balances() == {"A": 30, "B": 100, "C": 70, "D": 100}

    # B tries to publish the same data as its own.
    assert refused(net, bob, "assetsEnroll", "My load curve", "S-copy", S_DATA, "B", 5) == "DUPLICATE_CONTENT"
    assert query(net, "queryUser", "B")["Issues"] == []

    # A cancels S: a new buyer is refused; C keeps it.
    submit(net, alice, "assetsCancel", "S", "A")
    assert query(net, "queryAsset", "S")["IsValid"] is False
    assert refused(net, dave, "assetsExchange", "S", "A", "D") == "ASSET_NOT_ON_SALE"
    assert query(net, "queryUser", "C")["Assets"] == ["S"]
    assert query(net, "queryUser", "A")["UnIssues"] == ["S"] and query(net, "queryUser", "A")["Issues"] == []
    assert balances() == {"A": 30, "B": 100, "C": 70, "D": 100}

    # A publishes two more, D buys one, then A is deleted: everything A has on sale is cancelled.
    submit(net, alice, "assetsEnroll", "Feeder 3", "S3", meta("feeder 3"), "A", 10)
    submit(net, alice, "assetsEnroll", "Feeder 4", "S4", meta("feeder 4"), "A", 20)
    submit(net, dave, "assetsExchange", "S3", "A", "D")
    assert balances() == {"A": 40, "B": 100, "C": 70, "D": 90}
    deleted = submit(net, alice, "deleteUser", "A").json()
    assert deleted["Cancelled"] == ["S3", "S4"]
    assert [query(net, "queryAsset", a)["IsValid"] for a in ("S", "S3", "S4")] == [False, False, False]
    a = query(net, "queryUser", "A")
    assert (a["Deleted"], a["Issues"], sorted(a["UnIssues"])) == (True, [], ["S", "S3", "S4"])
    assert query(net, "queryUser", "D")["Assets"] == ["S3"]  # bought copies stay with their buyers
    assert refused(net, bob, "assetsExchange", "S4", "A", "B") == "USER_DELETED"
    assert balances() == {"A": 40, "B": 100, "C": 70, "D": 90}

    # Provenance of S, oldest first.
    enroll = query(net, "assetsExchangeHistory", "S", "enroll")
    exchanges = query(net, "assetsExchangeHistory", "S", "exchange")
    everything = query(net, "assetsExchangeHistory", "S", "all")
    assert [(e["Type"], e["CurrentOwnerId"]) for e in enroll] == [("enroll", "A")]
    assert [(e["OriginalOwnerId"], e["CurrentOwnerId"], e["Mode"], e["Value"]) for e in exchanges] == [("A", "B", "copy", 30), ("B", "C", "transfer", 30)]
    assert everything == enroll + exchanges
    assert [e["TxId"] for e in exchanges] == [bought.tx_id, transferred.tx_id]

    # Every peer holds the same chain and state, and the offline check agrees.
    height, commit_hash = wait_in_sync(net)
    assert height == net.orderer.height and height > 15
    assert len({p.state_digest() for p in net.peers}) == 1
    report = verify_network(net.data_dir, live_peers=net.peers)
    assert report.ok, report.problems

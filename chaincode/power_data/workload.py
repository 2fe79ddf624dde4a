"""The benchmark's transaction mix for the power-data contract (`gridledger bench`), as plain data.

`setup_transactions()` registers and funds the users and enrolls the assets;
`measured_round(seed, holdings)` draws one measured round of top-ups, purchases from
publishers and transfers between holders with a seeded RNG. Choices are uniform, so
conflicts (two purchases from one publisher in a block → MVCC_READ_CONFLICT) arise as often
as the mix makes them, never forced. The generator assumes every earlier transaction
succeeded; when one fails (e.g. a conflict), a later one that depended on it may be refused.
Each item is a `WorkloadTx(function, args, parties)`, parties being the user ids whose bound
identities must sign (the bench registers user `u` with the identity named `u`).
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import NamedTuple

USERS = 200
PUBLISHERS = 50  # users 0..49 publish; everyone may buy
ASSETS = 100  # asset i is published by user i % PUBLISHERS
SETUP_TOKENS = 1_000_000  # each user's first top-up: enough for every purchase in many rounds
PRICE_MIN, PRICE_MAX = 1, 100
ROUND_TRANSACTIONS = 2_000  # per measured round, as in the seed's Caliper runs
TOPUP_SHARE = 0.20
TRANSFER_SHARE = 0.15  # the rest of a round are purchases from publishers
TOPUP_MIN, TOPUP_MAX = 1, 1_000
DRAW_ATTEMPTS_MAX = 20  # tries to find a valid purchase or transfer before drawing a top-up instead
ID_PREFIX_DEFAULT = "bench"


class WorkloadTx(NamedTuple):
    function: str
    args: tuple[str, ...]
    parties: tuple[str, ...]


Holdings = dict[str, frozenset[str]]  # asset id → ids of users holding it (bought or received)


def user_id(index: int, prefix: str = ID_PREFIX_DEFAULT) -> str:
    return f"{prefix}-u{index:04d}"


def asset_id(index: int, prefix: str = ID_PREFIX_DEFAULT) -> str:
    return f"{prefix}-a{index:04d}"


def issuer_of(asset_index: int, prefix: str = ID_PREFIX_DEFAULT) -> str:
    return user_id(asset_index % PUBLISHERS, prefix)


def asset_price(asset_index: int) -> int:
    """A fixed, spread-out price, so balances are reproducible."""
    return PRICE_MIN + (asset_index * 37) % (PRICE_MAX - PRICE_MIN + 1)


def setup_transactions(prefix: str = ID_PREFIX_DEFAULT) -> list[WorkloadTx]:
    """Register and fund USERS users, then enroll ASSETS assets by PUBLISHERS publishers."""
    txs: list[WorkloadTx] = []
    for i in range(USERS):
        uid = user_id(i, prefix)
        txs.append(WorkloadTx("userRegister", (f"Bench user {i}", uid), (uid,)))
    for i in range(USERS):
        uid = user_id(i, prefix)
        txs.append(WorkloadTx("userTopup", (uid, str(SETUP_TOKENS)), (uid,)))
    for i in range(ASSETS):
        owner = issuer_of(i, prefix)
        digest = hashlib.sha256(f"{prefix} dataset {i}".encode()).hexdigest()
        metadata = json.dumps({"sha256": digest, "format": "csv", "description": f"load curve {i}"}, sort_keys=True)
        txs.append(WorkloadTx("assetsEnroll", (f"Load curve {i}", asset_id(i, prefix), metadata, owner, str(asset_price(i))), (owner,)))
    return txs


def initial_holdings(prefix: str = ID_PREFIX_DEFAULT) -> Holdings:
    """Right after setup nobody holds anything."""
    return {asset_id(i, prefix): frozenset() for i in range(ASSETS)}


def measured_round(seed: int, holdings: Holdings, prefix: str = ID_PREFIX_DEFAULT, count: int = ROUND_TRANSACTIONS) -> tuple[list[WorkloadTx], Holdings]:
    """One measured round and the holdings after it (pass them to the next round)."""
    rng = random.Random(seed)
    held = {a: set(h) for a, h in holdings.items()}
    txs: list[WorkloadTx] = []
    while len(txs) < count:
        draw = rng.random()
        tx = None
        if draw >= TOPUP_SHARE:
            tx = _draw_exchange(rng, held, prefix, transfer=draw < TOPUP_SHARE + TRANSFER_SHARE)
        if tx is None:
            uid = user_id(rng.randrange(USERS), prefix)
            tx = WorkloadTx("userTopup", (uid, str(rng.randint(TOPUP_MIN, TOPUP_MAX))), (uid,))
        txs.append(tx)
    return txs, {a: frozenset(h) for a, h in held.items()}


def _draw_exchange(rng: random.Random, held: dict[str, set[str]], prefix: str, *, transfer: bool) -> WorkloadTx | None:
    """A purchase from the publisher, or a transfer from a holder; updates `held`; None if none found."""
    for _ in range(DRAW_ATTEMPTS_MAX):
        index = rng.randrange(ASSETS)
        aid, issuer = asset_id(index, prefix), issuer_of(index, prefix)
        buyer = user_id(rng.randrange(USERS), prefix)
        if buyer == issuer or buyer in held[aid]:
            continue
        if not transfer:
            held[aid].add(buyer)
            return WorkloadTx("assetsExchange", (aid, issuer, buyer), (buyer,))
        if not held[aid]:
            continue
        seller = rng.choice(sorted(held[aid]))
        held[aid].discard(seller)
        held[aid].add(buyer)
        return WorkloadTx("assetsExchange", (aid, seller, buyer), (buyer, seller))
    return None


def setup_phases(prefix: str = ID_PREFIX_DEFAULT) -> list[list[WorkloadTx]]:
    """`setup_transactions` cut into phases whose steps may run concurrently without conflicts.

    Registrations, then top-ups, then enrollments in waves of one asset per publisher (two
    enrollments by one publisher in one block would conflict on its user record).
    """
    txs = setup_transactions(prefix)
    registers, topups, enrolls = txs[:USERS], txs[USERS : 2 * USERS], txs[2 * USERS :]
    waves = [enrolls[start : start + PUBLISHERS] for start in range(0, len(enrolls), PUBLISHERS)]
    return [registers, topups, *waves]


class PowerDataWorkload:
    """The `gridledger bench` workload (ledger.bench.Workload): setup phases, then measured rounds.

    Ids are prefixed with the run id so that repeated runs on one ledger never collide;
    each `round` continues from the holdings the previous rounds left.
    """

    def __init__(self, run_id: str = "", seed: int = 0) -> None:
        self.prefix = f"b{run_id}" if run_id else ID_PREFIX_DEFAULT
        self.seed = seed
        self.rounds_drawn = 0
        self.holdings = initial_holdings(self.prefix)

    def setup_phases(self) -> list[list[WorkloadTx]]:
        return setup_phases(self.prefix)

    def round(self, count: int) -> list[WorkloadTx]:
        """The next measured round of `count` transactions (seeded by seed and round number)."""
        txs, self.holdings = measured_round(self.seed * 1_000 + self.rounds_drawn, self.holdings, self.prefix, count)
        self.rounds_drawn += 1
        return txs

"""The benchmark's transaction mix for the power-data contract (`gridledger bench`), as plain data.

`setup_transactions()` registers and funds the users, enrolls the assets and has the
non-publishers buy a few copies (the setup holdings); `measured_round(seed, holdings)` draws
one measured round of top-ups, purchases from publishers and transfers between holders with a
seeded RNG.

No measured transaction depends on the outcome of another measured transaction (the setup
phases must all succeed, so what they leave is certain):
- a transfer moves a setup holding that no earlier round offered (each at most once ever),
  so its seller certainly holds it whether or not other transactions of the round commit;
- a purchase or transfer goes to a (buyer, asset) pair never drawn before and not a setup
  holding, with a buyer that is not the publisher, so it cannot meet ALREADY_HOLDS or
  BUYER_IS_ISSUER whatever else failed; balances (SETUP_TOKENS) cover every purchase.
Buyers and top-up users are drawn uniformly from all USERS, so a user may act several times
in a round, and the conflicts that remains (two writes of one buyer's record in a block, a
publisher's own transaction racing a sale of its data) arise as often as the mix makes them.
Each item is a `WorkloadTx(function, args, parties)`, parties being the user ids whose bound
identities must sign (the bench registers user `u` with the identity named `u`).
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import NamedTuple

# Users act uniformly at random, so at the bench's max send rate (a few hundred transactions in
# flight) 200 users would give each one more than one transaction per in-flight window and
# conflicts on their own records would dominate; 1000 keeps them realistic but secondary.
USERS = 1000
PUBLISHERS = 50  # users 0..49 publish; everyone may buy
ASSETS = 100  # asset i is published by user i % PUBLISHERS
SETUP_TOKENS = 1_000_000  # each user's first top-up: enough for every purchase in many rounds
PRICE_MIN, PRICE_MAX = 1, 100
ROUND_TRANSACTIONS = 2_000  # per measured round, as in the seed's Caliper runs
TOPUP_SHARE = 0.20
TRANSFER_SHARE = 0.15  # the rest of a round are purchases from publishers
TOPUP_MIN, TOPUP_MAX = 1, 1_000
DRAW_ATTEMPTS_MAX = 20  # tries to find a valid purchase or transfer before drawing a top-up instead
SETUP_HOLDINGS_MIN = 900  # spare holdings for 3 rounds of ROUND_TRANSACTIONS x TRANSFER_SHARE transfers
SETUP_PURCHASE_PHASES = -(-SETUP_HOLDINGS_MIN // (USERS - PUBLISHERS))  # in each, every non-publisher buys one copy
ID_PREFIX_DEFAULT = "bench"


class WorkloadTx(NamedTuple):
    function: str
    args: tuple[str, ...]
    parties: tuple[str, ...]


class Holdings(NamedTuple):
    """What the next round may rely on (pass the one a round returns to the next round)."""

    spare: tuple[tuple[str, int], ...]  # (holder, asset index): setup holdings never offered for transfer, so certain
    drawn: frozenset[tuple[str, str]]  # (user, asset id) pairs that held from setup or were ever a buyer


def user_id(index: int, prefix: str = ID_PREFIX_DEFAULT) -> str:
    return f"{prefix}-u{index:04d}"


def asset_id(index: int, prefix: str = ID_PREFIX_DEFAULT) -> str:
    return f"{prefix}-a{index:04d}"


def issuer_of(asset_index: int, prefix: str = ID_PREFIX_DEFAULT) -> str:
    return user_id(asset_index % PUBLISHERS, prefix)


def asset_price(asset_index: int) -> int:
    """A fixed, spread-out price, so balances are reproducible."""
    return PRICE_MIN + (asset_index * 37) % (PRICE_MAX - PRICE_MIN + 1)


def setup_purchases(prefix: str = ID_PREFIX_DEFAULT) -> list[list[WorkloadTx]]:
    """SETUP_PURCHASE_PHASES phases; in each, every non-publisher buys one copy (a different asset per phase).

    Within a phase every buyer writes only its own record and no publisher writes anything,
    so the phase runs concurrently without conflicts (sellers are paid by credit keys).
    """
    phases: list[list[WorkloadTx]] = []
    for phase in range(SETUP_PURCHASE_PHASES):
        txs = []
        for i in range(PUBLISHERS, USERS):
            index = (i * 7 + phase * 13) % ASSETS  # 13 is prime to ASSETS: distinct assets per buyer across phases
            buyer = user_id(i, prefix)
            txs.append(WorkloadTx("assetsExchange", (asset_id(index, prefix), issuer_of(index, prefix), buyer), (buyer,)))
        phases.append(txs)
    return phases


def setup_transactions(prefix: str = ID_PREFIX_DEFAULT) -> list[WorkloadTx]:
    """Register and fund USERS users, enroll ASSETS assets by PUBLISHERS publishers, then the setup purchases."""
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
    for phase in setup_purchases(prefix):
        txs.extend(phase)
    return txs


def initial_holdings(prefix: str = ID_PREFIX_DEFAULT) -> Holdings:
    """Right after setup: the setup purchases' copies, all spare."""
    purchases = [tx for phase in setup_purchases(prefix) for tx in phase]
    index_of = {asset_id(i, prefix): i for i in range(ASSETS)}
    return Holdings(tuple((tx.args[2], index_of[tx.args[0]]) for tx in purchases), frozenset((tx.args[2], tx.args[0]) for tx in purchases))


def measured_round(seed: int, holdings: Holdings, prefix: str = ID_PREFIX_DEFAULT, count: int = ROUND_TRANSACTIONS) -> tuple[list[WorkloadTx], Holdings]:
    """One measured round and the holdings after it (pass them to the next round)."""
    rng = random.Random(seed)
    spare = list(holdings.spare)
    drawn = set(holdings.drawn)
    txs: list[WorkloadTx] = []
    while len(txs) < count:
        draw = rng.random()
        tx = None
        if draw >= TOPUP_SHARE + TRANSFER_SHARE:
            tx = _draw_purchase(rng, drawn, prefix)
        elif draw >= TOPUP_SHARE:
            tx = _draw_transfer(rng, spare, drawn, prefix)
        if tx is None:
            uid = user_id(rng.randrange(USERS), prefix)
            tx = WorkloadTx("userTopup", (uid, str(rng.randint(TOPUP_MIN, TOPUP_MAX))), (uid,))
        txs.append(tx)
    return txs, Holdings(tuple(spare), frozenset(drawn))


def _new_buyer(rng: random.Random, index: int, drawn: set[tuple[str, str]], prefix: str) -> str | None:
    """A uniformly drawn user that may buy asset `index`: not its publisher, pair never drawn; None after DRAW_ATTEMPTS_MAX."""
    aid, issuer = asset_id(index, prefix), issuer_of(index, prefix)
    for _ in range(DRAW_ATTEMPTS_MAX):
        buyer = user_id(rng.randrange(USERS), prefix)
        if buyer != issuer and (buyer, aid) not in drawn:
            drawn.add((buyer, aid))
            return buyer
    return None


def _draw_purchase(rng: random.Random, drawn: set[tuple[str, str]], prefix: str) -> WorkloadTx | None:
    """A purchase of a copy from the publisher by a new (buyer, asset) pair."""
    index = rng.randrange(ASSETS)
    buyer = _new_buyer(rng, index, drawn, prefix)
    if buyer is None:
        return None
    return WorkloadTx("assetsExchange", (asset_id(index, prefix), issuer_of(index, prefix), buyer), (buyer,))


def _draw_transfer(rng: random.Random, spare: list[tuple[str, int]], drawn: set[tuple[str, str]], prefix: str) -> WorkloadTx | None:
    """A transfer of a spare setup holding (taken out of `spare`) to a new buyer; None when none is left."""
    if not spare:
        return None
    holder, index = spare.pop(rng.randrange(len(spare)))
    buyer = _new_buyer(rng, index, drawn, prefix)
    if buyer is None:
        return None
    return WorkloadTx("assetsExchange", (asset_id(index, prefix), holder, buyer), (buyer, holder))


def setup_phases(prefix: str = ID_PREFIX_DEFAULT) -> list[list[WorkloadTx]]:
    """`setup_transactions` cut into phases whose steps may run concurrently without conflicts.

    Registrations, then top-ups, then enrollments in waves of one asset per publisher (two
    enrollments by one publisher in one block would conflict on its user record), then the
    setup purchases (see `setup_purchases`).
    """
    txs = setup_transactions(prefix)
    registers, topups = txs[:USERS], txs[USERS : 2 * USERS]
    enrolls = txs[2 * USERS : 2 * USERS + ASSETS]
    waves = [enrolls[start : start + PUBLISHERS] for start in range(0, len(enrolls), PUBLISHERS)]
    return [registers, topups, *waves, *setup_purchases(prefix)]


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

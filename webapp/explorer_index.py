"""The explorer's index, fed from committed blocks (see webapp/block_feed.py): every
transaction id with its block, position, validation code and time, and every block's size.

It answers what a peer's own index cannot: a transaction by the short id the console shows
(a unique prefix of TX_PREFIX_MIN+ hex digits, by a range on the primary key) and the
charts (transactions per minute by validation code, block sizes over time), without
reading every block on each page view.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col, select

from ledger.tools.explorer import TxSummary
from webapp.block_feed import BlockFeed
from webapp.db import session

TX_PREFIX_MIN = 8  # hex digits of a short id that may find a transaction
MINUTES_CHARTED = 30
BLOCKS_CHARTED = 60
MINUTE_MS = 60_000


class ExplorerTx(SQLModel, table=True):
    __tablename__ = "explorer_tx"
    tx_id: str = Field(primary_key=True)
    block: int
    tx_num: int
    code: str = Field(index=True)
    timestamp_ms: int = Field(index=True)


class ExplorerBlock(SQLModel, table=True):
    __tablename__ = "explorer_block"
    number: int = Field(primary_key=True)
    timestamp_ms: int
    tx_count: int
    invalid_count: int
    size_bytes: int


@dataclass(frozen=True, slots=True)
class MinuteCounts:
    """Transactions committed in one minute, by validation code."""

    minute_ms: int
    counts: dict[str, int]


class ExplorerIndex:
    name = "explorer"

    def __init__(self, engine: Engine, feed: BlockFeed) -> None:
        self.engine = engine
        self.feed = feed
        feed.add(self)

    def apply(self, db: Session, number: int, timestamp_ms: int, size: int, transactions: list[TxSummary]) -> None:
        invalid = 0
        for tx in transactions:
            invalid += tx.code != "VALID"
            if tx.tx_id and db.get(ExplorerTx, tx.tx_id) is None:  # a replayed id stays with its first block
                db.add(ExplorerTx(tx_id=tx.tx_id, block=number, tx_num=tx.tx_num, code=tx.code, timestamp_ms=timestamp_ms))
                db.flush()
        db.add(ExplorerBlock(number=number, timestamp_ms=timestamp_ms, tx_count=len(transactions), invalid_count=invalid, size_bytes=size))

    def find(self, prefix: str) -> list[str]:
        """Transaction ids starting with `prefix` (at most two: enough to tell unique from ambiguous)."""
        self.feed.catch_up()
        with session(self.engine) as db:
            rows = db.exec(
                select(ExplorerTx.tx_id).where(col(ExplorerTx.tx_id) >= prefix, col(ExplorerTx.tx_id) < prefix + "g").order_by(col(ExplorerTx.tx_id)).limit(2)
            ).all()
        return list(rows)

    def tx_per_minute(self, minutes: int = MINUTES_CHARTED) -> list[MinuteCounts]:
        """The last `minutes` minutes up to the latest transaction, each with its counts by code."""
        self.feed.catch_up()
        with session(self.engine) as db:
            latest = db.exec(select(ExplorerTx.timestamp_ms).order_by(col(ExplorerTx.timestamp_ms).desc()).limit(1)).first()
            if latest is None:
                return []
            last_minute = latest - latest % MINUTE_MS
            first_minute = last_minute - (minutes - 1) * MINUTE_MS
            rows = db.exec(select(ExplorerTx.timestamp_ms, ExplorerTx.code).where(col(ExplorerTx.timestamp_ms) >= first_minute)).all()
        counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for timestamp_ms, code in rows:
            counts[timestamp_ms - timestamp_ms % MINUTE_MS][code] += 1
        return [MinuteCounts(m, dict(counts.get(m, {}))) for m in range(first_minute, last_minute + 1, MINUTE_MS)]

    def block_sizes(self, blocks: int = BLOCKS_CHARTED) -> list[ExplorerBlock]:
        """The latest `blocks` blocks, oldest first."""
        self.feed.catch_up()
        with session(self.engine) as db:
            rows = db.exec(select(ExplorerBlock).order_by(col(ExplorerBlock.number).desc()).limit(blocks)).all()
        return list(reversed(rows))

"""Follows the chain for the console's own indexes: each committed block once, in order.

Consumers (the marketplace index, the explorer index) keep tables derived from blocks. Each
has a cursor row (the next block it has not applied), written in the same database
transaction as what it derived, so a crash never applies a block twice or skips one. The
feed is catch-up-on-read: a query first applies the blocks committed since, so an index is
never older than the question asked of it, and no thread of its own is needed.
"""

from __future__ import annotations

import threading
from typing import Protocol

from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel

from ledger.tools.explorer import TxSummary
from webapp.chain import Chain
from webapp.db import session

FEED_COMMIT_BLOCKS = 200  # blocks per database transaction while catching up


class FeedCursor(SQLModel, table=True):
    """The next block a consumer has not applied."""

    __tablename__ = "feed_cursor"
    name: str = Field(primary_key=True)
    next_block: int = 0


class BlockConsumer(Protocol):
    name: str

    def apply(self, db: Session, number: int, timestamp_ms: int, size: int, transactions: list[TxSummary]) -> None:
        """Derive rows from one committed block (inside the feed's transaction)."""
        ...


class BlockFeed:
    def __init__(self, engine: Engine, chain: Chain) -> None:
        self.engine = engine
        self.chain = chain
        self.consumers: list[BlockConsumer] = []
        self._lock = threading.Lock()
        SQLModel.metadata.create_all(engine)  # idempotent: adds index tables to an older console database

    def add(self, consumer: BlockConsumer) -> None:
        self.consumers.append(consumer)

    def catch_up(self) -> int:
        """Apply every committed block some consumer has not seen; the chain height read."""
        with self._lock:
            height = self.chain.height()
            with session(self.engine) as db:
                cursors = {c.name: db.get(FeedCursor, c.name) or FeedCursor(name=c.name) for c in self.consumers}
                start = min((c.next_block for c in cursors.values()), default=height)
                while start < height:
                    end = min(height, start + FEED_COMMIT_BLOCKS)
                    for number in range(start, end):
                        timestamp_ms, size, transactions = self.chain.block_summary(number)
                        for consumer in self.consumers:
                            cursor = cursors[consumer.name]
                            if cursor.next_block == number:
                                consumer.apply(db, number, timestamp_ms, size, transactions)
                                cursor.next_block = number + 1
                    for cursor in cursors.values():
                        db.add(cursor)
                    db.commit()
                    start = end
            return height

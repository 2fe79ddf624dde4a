"""Step 4 (commit): which transaction ids enter a peer's transaction index.

One rule for the live commit and for every rebuild from the block files, so that two
peers never disagree on what is a replay (DUPLICATE_TXID). A transaction id is indexed
only when its creator is a member whose signature over the envelope verified and the id is
the hash of the invocation it signed: then the id is the creator's own. A transaction
refused before that was established (undecodable, foreign channel, unknown or forged
creator, wrong id) leaves no trace in the index, so it can never burn someone else's id.
"""

from __future__ import annotations

from collections.abc import Sequence

from ledger.core.codes import is_authentic


def index_rows(tx_ids: Sequence[str], codes: Sequence[int]) -> list[tuple[str, int, int]]:
    """(tx_id, tx_num, code) rows of a block's transactions that enter the index."""
    return [(tx_id, tx_num, int(code)) for tx_num, (tx_id, code) in enumerate(zip(tx_ids, codes)) if tx_id and is_authentic(code)]


def event_tx_ids(tx_ids: Sequence[str], codes: Sequence[int]) -> tuple[str, ...]:
    """The ids a commit event names: only authentic ones (a forged copy of someone's
    transaction must not resolve that person's wait with its failure)."""
    return tuple(tx_id if tx_id and is_authentic(code) else "" for tx_id, code in zip(tx_ids, codes))

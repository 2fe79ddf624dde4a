"""What a chaincode sees during simulation, and how it refuses: the ledger side of the shim.

The endorser builds a `ChaincodeContext` per proposal; the chaincode reads and writes state
through it (every read and write is recorded in the read/write set) and either returns its
result bytes or raises `ChaincodeRefusal` with a stable code. Any other exception is a
chaincode fault (status 500). The ledger loads chaincodes by the import path named in the
channel configuration, so it never imports a contract itself.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from ledger.core.errors import LedgerError
from ledger.core.identity import Identity
from ledger.core.messages import HistoryEntry

__all__ = ["Chaincode", "ChaincodeContext", "ChaincodeRefusal", "HistoryEntry", "VerifiedSignoff", "load_chaincode"]


class ChaincodeRefusal(LedgerError):
    """A business refusal: `code` is stable (UPPER_SNAKE), `message` a sentence a person can act on."""


@dataclass(frozen=True, slots=True)
class VerifiedSignoff:
    """A signoff whose signature and certificate the endorser has already checked."""

    kind: str  # "party" or "approval"
    identity: Identity


class ChaincodeContext(Protocol):
    channel: str
    tx_id: str
    timestamp_ms: int
    function: str
    args: tuple[str, ...]
    creator: Identity
    signoffs: tuple[VerifiedSignoff, ...]

    def get_state(self, key: str) -> bytes | None: ...

    def put_state(self, key: str, value: bytes) -> None: ...

    def del_state(self, key: str) -> None: ...

    def get_state_by_range(self, start: str, end: str) -> Iterator[tuple[str, bytes]]:
        """Keys in [start, end) in key order; end "" means unbounded. Recorded for phantom checks."""
        ...

    def get_history_for_key(self, key: str) -> list[HistoryEntry]:
        """Committed history of a key, oldest first (not recorded in the read set, as in Fabric)."""
        ...

    def set_event(self, name: str, payload: bytes) -> None: ...


class Chaincode(Protocol):
    def invoke(self, ctx: ChaincodeContext) -> bytes: ...


def load_chaincode(entry_point: str, params: dict[str, Any]) -> Chaincode:
    """Instantiate `module.path:ClassName` with the definition's params as keyword arguments."""
    module_name, _, attr = entry_point.partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    instance: Chaincode = factory(**params)
    return instance

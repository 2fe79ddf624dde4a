"""One node's chain check result, apart from the check itself.

Why a module of its own: the report crosses the transports (a peer answers `verify` with
it), so clients decode it; the check that makes it needs the state database and the
validator, which a client process (CLI, gateway, console) should not have to import.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ledger.core.codes import VerifyCode


class ChainReport(msgspec.Struct):
    """One node's chain as checked: how far it is sound and what is wrong (first fault first)."""

    node: str
    height: int = 0
    commit_hash: str = ""
    problems: list[str] = msgspec.field(default_factory=list)
    faults: list[dict[str, Any]] = msgspec.field(default_factory=list)  # {code, node, block?, key?, message}
    last_block_hash: str = ""  # header hash of the last sound block: equal iff the chains agree up to it

    def fault(self, code: VerifyCode, message: str, *, block: int | None = None, key: str | None = None) -> None:
        """Record a fault: a sentence for people, a structured entry for tools."""
        where = f"block {block}: " if block is not None else ""
        self.problems.append(f"{where}{message}")
        entry: dict[str, Any] = {"code": code.value, "node": self.node, "message": message}
        if block is not None:
            entry["block"] = block
        if key is not None:
            entry["key"] = key
        self.faults.append(entry)

"""The one root of expected errors: every refusal a person or a client can act on.

An expected error carries a stable `code` (see `ledger.core.codes`) and a `message` that
says what to do. Each stage raises its own subclass; an exception that is not a
`LedgerError` means the system itself broke (a bug, a lost disk), never bad input.
"""

from __future__ import annotations

from ledger.core.codes import describe


class LedgerError(Exception):
    """Root of expected errors: `code` is stable (UPPER_SNAKE), `message` is for people."""

    def __init__(self, code: str, message: str = "") -> None:
        self.code = str(code)
        self.message = message or describe(self.code)
        super().__init__(f"{self.code}: {self.message}")

    def as_dict(self) -> dict[str, str]:
        """The error as every interface prints it: `{"code", "message"}`."""
        return {"code": self.code, "message": self.message}


class ConfigError(LedgerError):
    """The network file, or a node's directory, is wrong; the message says where."""

    def __init__(self, message: str, code: str = "CONFIG_INVALID") -> None:
        super().__init__(code, message)


class MembershipError(LedgerError):
    """An identity the channel does not accept (see `MembershipCode`)."""


class StorageCorruption(LedgerError):
    """Stored data (block files, index, state) is damaged: a person must look."""

    def __init__(self, message: str, code: str = "STORAGE_CORRUPT") -> None:
        super().__init__(code, message)


class NodeFailed(LedgerError):
    """A node's work loop died: the node stops loudly instead of limping on."""

    def __init__(self, node: str, why: str) -> None:
        super().__init__("NODE_FAILED", f"{node} stopped: {why}")
        self.node = node

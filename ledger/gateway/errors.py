"""The gateway's typed errors: what a client is told when its transaction does not commit."""

from __future__ import annotations

from ledger.core.errors import LedgerError


class GatewayError(LedgerError):
    """Base of the client's errors (code: a stage's code or a GatewayCode)."""


class EndorsementError(GatewayError):
    """A peer refused to endorse: the chaincode's refusal code, or the endorser's."""


class OrderingError(GatewayError):
    """The ordering service did not accept the envelope (code: an OrdererCode)."""


class CommitError(GatewayError):
    """The transaction was ordered but committed as invalid (code = the validation code name)."""

    def __init__(self, code: str, message: str, tx_id: str, block: int) -> None:
        super().__init__(code, message)
        self.tx_id = tx_id
        self.block = block


class CommitTimeout(GatewayError):
    """The transaction was ordered but no commit event was seen in time: it may still commit,
    so the caller settles it later by its transaction id, never by resubmitting blindly."""

    def __init__(self, tx_id: str, timeout_s: float) -> None:
        super().__init__("COMMIT_TIMEOUT", f"transaction {tx_id} was not seen committed within {timeout_s} s; it may still commit")
        self.tx_id = tx_id

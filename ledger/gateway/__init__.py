"""The client side of the ledger: submit, evaluate, commit status, typed errors."""

from ledger.gateway.commit_status import Committed, CommitWaiter, PendingTransaction, SubmitResult, locate
from ledger.gateway.errors import CommitError, CommitTimeout, EndorsementError, GatewayError, OrderingError
from ledger.gateway.gateway import Gateway
from ledger.gateway.signoffs import creator_party, make_signoff
from ledger.gateway.suspects import Suspects

__all__ = [
    "CommitError",
    "CommitTimeout",
    "Committed",
    "CommitWaiter",
    "EndorsementError",
    "Gateway",
    "GatewayError",
    "OrderingError",
    "PendingTransaction",
    "SubmitResult",
    "Suspects",
    "creator_party",
    "locate",
    "make_signoff",
]

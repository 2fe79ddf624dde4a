"""Signoffs a client attaches to a proposal: parties the transaction acts for, approvals."""

from __future__ import annotations

from ledger.core.identity import SigningIdentity
from ledger.core.messages import Signoff, signoff_message


def make_signoff(kind: str, signer: SigningIdentity, tx_id: str) -> Signoff:
    """`kind` "party" (a user the transaction acts for) or "approval" (an administrator)."""
    return Signoff(kind, signer.cert_bytes, signer.sign(signoff_message(kind, tx_id)))


def creator_party(creator: SigningIdentity) -> Signoff:
    """The submitting identity as a party: covered by its proposal signature, so no signature
    of its own to make or to check (only valid in a proposal `creator` submits)."""
    return Signoff("party", creator.cert_bytes, b"")

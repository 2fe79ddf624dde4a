"""Step 2 (order), admission: what any orderer node checks of a broadcast envelope before
ordering it (size, channel, creator membership and signature).

The solo orderer and every JetStream orderer node apply this one rule, so an envelope is
refused with the same code whichever node receives it. Peers' validators check it all
again: admission keeps junk out of the ordered stream, it is not the ledger's guard.
"""

from __future__ import annotations

import msgspec

from ledger.core.channel import Channel
from ledger.core.codes import OrdererCode
from ledger.core.encoding import decode
from ledger.core.errors import MembershipError
from ledger.core.messages import BroadcastResult, Envelope, Payload, PayloadType
from ledger.core.transactions import parse_endorser_transaction


def check_envelope(channel: Channel, envelope: bytes) -> BroadcastResult:
    """The ordering service's admission check of one envelope (size, channel, creator)."""
    if len(envelope) > channel.config.batch.absolute_max_bytes:
        return BroadcastResult(False, OrdererCode.TOO_LARGE, "the envelope is larger than the channel's absolute maximum")
    try:
        outer = decode(envelope, Envelope)
        payload = decode(outer.payload, Payload)
        creator = channel.msp.validate(payload.creator)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return BroadcastResult(False, OrdererCode.BAD_PAYLOAD, "the envelope cannot be decoded")
    except MembershipError as exc:
        return BroadcastResult(False, OrdererCode.UNKNOWN_IDENTITY, exc.message)
    if payload.channel != channel.name or payload.type != PayloadType.ENDORSER_TRANSACTION:
        return BroadcastResult(False, OrdererCode.BAD_CHANNEL, "the envelope is not an endorser transaction for this channel")
    if not creator.verify(outer.payload, outer.signature):
        return BroadcastResult(False, OrdererCode.BAD_CREATOR_SIGNATURE, "the envelope is not signed by its creator")
    return BroadcastResult(True)


def admitted_tx_id(channel: Channel, envelope: bytes) -> tuple[BroadcastResult, str]:
    """The admission verdict and, when admitted, the transaction id (the ordering
    service's de-duplication key: a retried broadcast of one transaction is ordered once)."""
    checked = check_envelope(channel, envelope)
    if not checked.accepted:
        return checked, ""
    parsed = parse_endorser_transaction(envelope)
    if parsed is None or not parsed.tx_id:
        return BroadcastResult(False, OrdererCode.BAD_PAYLOAD, "the envelope holds no decodable endorser transaction"), ""
    return checked, parsed.tx_id

"""NATS subject and stream names of one channel, defined once.

Orderers, peers, clients and the server permissions (`ledger/node/natsconf.py`) all take
their names from here, so a permission can never drift from the subject it guards.
"""

from __future__ import annotations

from dataclasses import dataclass

SUBJECT_ROOT = "gl"
ORDERER_QUEUE_GROUP = "orderers"


@dataclass(frozen=True, slots=True)
class ChannelSubjects:
    """Every subject and stream of channel `channel`."""

    channel: str

    @property
    def prefix(self) -> str:
        return f"{SUBJECT_ROOT}.{self.channel}"

    # ordering ----------------------------------------------------------------------------
    @property
    def broadcast(self) -> str:
        """Request/reply to the orderer nodes (queue group ORDERER_QUEUE_GROUP)."""
        return f"{self.prefix}.broadcast"

    @property
    def broadcast_batch(self) -> str:
        """Like `broadcast`, with a list of envelopes (`ledger.transport.nats_batch`)."""
        return f"{self.prefix}.broadcast_batch"

    @property
    def envelopes(self) -> str:
        """Subject of the envelopes stream: accepted envelopes and time-to-cut markers."""
        return f"{self.prefix}.envelopes"

    @property
    def blocks(self) -> str:
        """Subject of the blocks stream: one message per block, number = sequence - 1."""
        return f"{self.prefix}.blocks"

    @property
    def envelopes_stream(self) -> str:
        return f"GL_{self.channel.upper()}_ENVELOPES"

    @property
    def blocks_stream(self) -> str:
        return f"GL_{self.channel.upper()}_BLOCKS"

    # peers -------------------------------------------------------------------------------
    def peer(self, node: str, call: str) -> str:
        """Request/reply to one peer: call is "endorse", "endorse_batch" (a list of proposals,
        `ledger.transport.nats_batch`), "query" or "status"."""
        return f"{self.prefix}.peer.{_token(node)}.{call}"

    def peer_all(self, node: str) -> str:
        return f"{self.prefix}.peer.{_token(node)}.>"

    def events(self, node: str) -> str:
        """Commit events published by one peer."""
        return f"{self.prefix}.events.{_token(node)}"

    @property
    def events_all(self) -> str:
        return f"{self.prefix}.events.>"

    def heartbeat(self, node: str) -> str:
        """Liveness and height published by one node every HEARTBEAT_S."""
        return f"{self.prefix}.heartbeat.{_token(node)}"

    @property
    def heartbeat_all(self) -> str:
        return f"{self.prefix}.heartbeat.>"


def _token(node: str) -> str:
    """A node name as one subject token ("peer0.Org1" -> "peer0_Org1")."""
    return node.replace(".", "_")

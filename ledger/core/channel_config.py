"""The channel's configuration as it is stored on the ledger (in the genesis block).

These records are what every node agrees on: the member organizations and their CA roots,
the nodes and their certificates, the orderer's batch parameters, the chaincodes with their
endorsement and approval policies. Block 0 holds exactly one CONFIG transaction whose data
is the encoded `ChannelConfig`.
"""

from __future__ import annotations

from ledger.core.encoding import Record, decode
from ledger.core.errors import ConfigError
from ledger.core.messages import Block, Envelope, Payload, PayloadType


class OrgDefinition(Record, frozen=True):
    name: str
    ca_public_key: bytes
    revoked_serials: tuple[int, ...]


class NodeDefinition(Record, frozen=True):
    name: str
    org: str
    role: str  # "peer" or "orderer"
    cert: bytes

    @property
    def node_id(self) -> str:
        """`name.org`, the node's name everywhere (directories, logs, status)."""
        return f"{self.name}.{self.org}"


class BatchParameters(Record, frozen=True):
    max_message_count: int
    preferred_max_bytes: int
    absolute_max_bytes: int
    batch_timeout_ms: int


class ChaincodeDefinition(Record, frozen=True):
    name: str
    entry_point: str
    endorsement_policy: str
    approval_policy: str
    params_json: str  # canonical JSON of the constructor parameters


class ChannelConfig(Record, frozen=True):
    channel: str
    sequence: int
    orgs: tuple[OrgDefinition, ...]
    nodes: tuple[NodeDefinition, ...]
    batch: BatchParameters
    chaincodes: tuple[ChaincodeDefinition, ...]

    @property
    def peer_orgs(self) -> list[str]:
        return sorted({node.org for node in self.nodes if node.role == "peer"})

    @property
    def peers(self) -> list[NodeDefinition]:
        return [node for node in self.nodes if node.role == "peer"]

    @property
    def orderers(self) -> list[NodeDefinition]:
        return [node for node in self.nodes if node.role == "orderer"]

    def chaincode(self, name: str) -> ChaincodeDefinition | None:
        return next((cc for cc in self.chaincodes if cc.name == name), None)


def genesis_config(block: Block) -> ChannelConfig:
    """The channel configuration held by a genesis block (ConfigError if it holds none)."""
    try:
        envelope = decode(block.data[0], Envelope)
        payload = decode(envelope.payload, Payload)
        if payload.type != PayloadType.CONFIG:
            raise ConfigError("block 0 is not a CONFIG block")
        return decode(payload.data, ChannelConfig)
    except (IndexError, ValueError) as exc:
        raise ConfigError(f"the genesis block holds no channel configuration: {exc}") from None

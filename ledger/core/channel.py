"""The channel as a node sees it: configuration, membership and parsed policies.

Built once from the genesis block's `ChannelConfig`; every stage (endorser, orderer,
validator) asks it who is a member and which policy applies. Loading chaincode code is
the execute stage's business (`ledger.execute.chaincodes`), not the channel's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ledger.core.channel_config import ChaincodeDefinition, ChannelConfig
from ledger.core.codes import MembershipCode
from ledger.core.errors import MembershipError
from ledger.core.identity import Identity, MembershipService
from ledger.core.policy import Policy, parse_policy


@dataclass
class Channel:
    config: ChannelConfig
    msp: MembershipService = field(init=False)
    _endorsement: dict[str, Policy] = field(init=False, default_factory=dict)
    _approval: dict[str, Policy | None] = field(init=False, default_factory=dict)
    _definitions: dict[str, ChaincodeDefinition] = field(init=False, default_factory=dict)
    _orderers: frozenset[tuple[str, str]] = field(init=False, default=frozenset())

    def __post_init__(self) -> None:
        self.msp = MembershipService(
            {org.name: org.ca_public_key for org in self.config.orgs},
            {org.name: frozenset(org.revoked_serials) for org in self.config.orgs},
        )
        peer_orgs = self.config.peer_orgs
        for definition in self.config.chaincodes:
            self._definitions.setdefault(definition.name, definition)  # the first of a name, as ChannelConfig.chaincode
            self._endorsement[definition.name] = parse_policy(definition.endorsement_policy, peer_orgs)
            approval = definition.approval_policy
            self._approval[definition.name] = parse_policy(approval, peer_orgs) if approval else None
        self._orderers = frozenset((n.org, n.name) for n in self.config.orderers)

    @property
    def name(self) -> str:
        return self.config.channel

    def definition(self, chaincode: str) -> ChaincodeDefinition | None:
        """Asked by every endorsement and every validated transaction: a dict lookup, not a scan."""
        return self._definitions.get(chaincode)

    def endorsement_policy(self, chaincode: str) -> Policy:
        return self._endorsement[chaincode]

    def approval_policy(self, chaincode: str) -> Policy | None:
        return self._approval[chaincode]

    def is_orderer(self, identity: Identity) -> bool:
        return (identity.org, identity.name) in self._orderers

    def validate_orderer(self, cert_bytes: bytes) -> Identity:
        """Any orderer node of the channel may sign a block (several in the networked mode)."""
        identity = self.msp.validate(cert_bytes)
        if identity.role != "orderer" or not self.is_orderer(identity):
            raise MembershipError(MembershipCode.NOT_AN_ORDERER, f"{identity.id} is not an orderer of channel {self.name}")
        return identity

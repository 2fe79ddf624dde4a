"""The channel as a node sees it: configuration, membership, parsed policies, chaincodes.

Built once from the genesis block's `ChannelConfig`; every stage (endorser, orderer,
validator) asks it who is a member and which policy applies.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

from ledger.chaincode_api import Chaincode, load_chaincode
from ledger.config import ChaincodeDefinition, ChannelConfig
from ledger.identity import Identity, MembershipError, MembershipService
from ledger.policy import Policy, parse_policy

NAMESPACE_SEPARATOR = "/"


@dataclass
class Channel:
    config: ChannelConfig
    msp: MembershipService = field(init=False)
    _endorsement: dict[str, Policy] = field(init=False, default_factory=dict)
    _approval: dict[str, Policy | None] = field(init=False, default_factory=dict)
    _chaincodes: dict[str, Chaincode] = field(init=False, default_factory=dict)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.msp = MembershipService(
            {org.name: org.ca_public_key for org in self.config.orgs},
            {org.name: frozenset(org.revoked_serials) for org in self.config.orgs},
        )
        peer_orgs = self.config.peer_orgs
        for definition in self.config.chaincodes:
            self._endorsement[definition.name] = parse_policy(definition.endorsement_policy, peer_orgs)
            approval = definition.approval_policy
            self._approval[definition.name] = parse_policy(approval, peer_orgs) if approval else None

    @property
    def name(self) -> str:
        return self.config.channel

    def definition(self, chaincode: str) -> ChaincodeDefinition | None:
        return self.config.chaincode(chaincode)

    def endorsement_policy(self, chaincode: str) -> Policy:
        return self._endorsement[chaincode]

    def approval_policy(self, chaincode: str) -> Policy | None:
        return self._approval[chaincode]

    def chaincode(self, name: str) -> Chaincode:
        """The chaincode instance for `name` (loaded once per node from its entry point)."""
        instance = self._chaincodes.get(name)
        if instance is None:
            with self._lock:
                instance = self._chaincodes.get(name)
                if instance is None:
                    definition = self.definition(name)
                    assert definition is not None, f"unknown chaincode {name}"
                    instance = load_chaincode(definition.entry_point, json.loads(definition.params_json))
                    self._chaincodes[name] = instance
        return instance

    def is_orderer(self, identity: Identity) -> bool:
        return any(n.role == "orderer" and n.org == identity.org and n.name == identity.name for n in self.config.nodes)

    def validate_orderer(self, cert_bytes: bytes) -> Identity:
        identity = self.msp.validate(cert_bytes)
        if identity.role != "orderer" or not self.is_orderer(identity):
            raise MembershipError("NOT_AN_ORDERER", f"{identity.id} is not an orderer of channel {self.name}")
        return identity


def namespaced(chaincode: str, key: str) -> str:
    return chaincode + NAMESPACE_SEPARATOR + key


def namespace_end(chaincode: str) -> str:
    """The first key after every key of the namespace (exclusive upper bound)."""
    return chaincode + chr(ord(NAMESPACE_SEPARATOR) + 1)

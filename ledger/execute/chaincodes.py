"""Step 1 (execute): the chaincodes a node runs, loaded once from the channel's definitions.

The ledger never imports a contract itself: each definition names an entry point
(`module:Class`) and constructor parameters, and the first proposal for a chaincode loads it.
"""

from __future__ import annotations

import json
import threading

from ledger.core.channel import Channel
from ledger.execute.chaincode_api import Chaincode, load_chaincode


class ChaincodeRegistry:
    """The chaincode instances of one node, by name (thread-safe, loaded on first use)."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self._instances: dict[str, Chaincode] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Chaincode:
        """The instance for a chaincode defined on the channel (the endorser checks it is)."""
        instance = self._instances.get(name)
        if instance is None:
            with self._lock:
                instance = self._instances.get(name)
                if instance is None:
                    definition = self.channel.definition(name)
                    assert definition is not None, f"chaincode {name} is not defined on the channel"
                    instance = load_chaincode(definition.entry_point, json.loads(definition.params_json))
                    self._instances[name] = instance
        return instance

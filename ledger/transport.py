"""The one interface between nodes: what a gateway needs of endorsers, the orderer and a
committing peer. The embedded network passes the nodes themselves (in-process calls); a
networked transport implements the same protocols over the wire.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Callable, Protocol

from ledger.committer import CommitOutcome
from ledger.messages import ProposalResponse, ResponsePayload, SignedProposal
from ledger.orderer import BroadcastResult


class EndorserService(Protocol):
    name: str
    org: str

    @property
    def alive(self) -> bool: ...  # False once a peer's process has ended: gateways skip it

    @property
    def height(self) -> int: ...

    def endorse(self, signed: SignedProposal) -> ProposalResponse: ...

    def endorse_async(self, signed: SignedProposal) -> Future[ProposalResponse]: ...

    def evaluate(self, signed: SignedProposal) -> ResponsePayload: ...


class OrdererService(Protocol):
    def broadcast(self, envelope: bytes) -> BroadcastResult: ...


class CommitEvents(Protocol):
    def add_commit_listener(self, listener: Callable[[CommitOutcome], None]) -> None: ...

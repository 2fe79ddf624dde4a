"""The console's only door to the ledger: queries and submissions through the gateway."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ledger.core.codes import EndorserCode
from ledger.core.codes import describe as describe_code
from ledger.core.encoding import decode, encode
from ledger.core.errors import LedgerError
from ledger.core.identity import SigningIdentity
from ledger.core.messages import Block, Invocation, Signoff, compute_tx_id
from ledger.node.network import Network
from ledger.tools.explorer import TxSummary
from ledger.transport.protocols import PeerService
from webapp.errors import AppError, LedgerUnavailable, NotFound

# Contract refusal codes that mean "no such record" for a query.
_NOT_FOUND_HINTS = ("NOT_FOUND",)
LIST_PAGES_MAX = 50
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a submitted transaction."""

    committed: bool
    tx_id: str
    block: int | None
    code: str  # "VALID", a validation code name, or the contract's refusal code
    message: str
    settled: bool = True  # False: ordered, but its commit was not seen yet (COMMIT_TIMEOUT)


@dataclass(frozen=True, slots=True)
class Simulation:
    """A dry run's raw answer: ok with the keys read and (key, value, deleted) written, or the
    refusal's code and message."""

    ok: bool
    code: str
    message: str
    reads: tuple[str, ...]
    writes: tuple[tuple[str, bytes, bool], ...]


COMMIT_TIMEOUT = "COMMIT_TIMEOUT"
DUPLICATE_TXID = "DUPLICATE_TXID"
# The ledger could not take the call at all (no peers to endorse, no ordering service): a
# temporary state of the network, never the ledger's verdict on the request.
UNAVAILABLE_CODES = frozenset({"NO_ENDORSERS", "PEER_UNAVAILABLE", "ENDORSEMENT_TIMEOUT", "ORDERER_UNAVAILABLE", "SERVICE_UNAVAILABLE"})
# Of those, the one said after a broadcast went unanswered (timeouts, a leader failover): an
# orderer may have taken the envelope all the same, so the transaction may still commit.
BROADCAST_UNANSWERED = "ORDERER_UNAVAILABLE"


class Chain:
    """Wraps a `ledger.node.network.Network`. Thread-safe: gateways are cached per identity id."""

    def __init__(self, network: Network) -> None:
        self.network = network
        self._gateways: dict[str, Any] = {}
        self._issued: dict[tuple[str, str], SigningIdentity] = {}
        self._lock = threading.Lock()

    # --- identities -----------------------------------------------------------------------
    @property
    def approver_org(self) -> str:
        return self.network.approver_org

    def enroll(self, org: str, name: str, role: str = "client", attributes: dict[str, str] | None = None) -> SigningIdentity:
        return self.network.enroll(org, name, role=role, attributes=attributes)

    def console_identity(self, org: str, name: str, role: str = "client", attributes: dict[str, str] | None = None) -> SigningIdentity:
        """An identity the console itself acts as (the regulator reader, a customer's reader,
        an operator), issued by `org`'s CA on first use and kept for this console's life;
        `forget_identity` drops it (its key is then never used again)."""
        with self._lock:
            found = self._issued.get((org, name))
            if found is None:
                found = self._issued[(org, name)] = self.enroll(org, name, role, attributes)
            return found

    def forget_identity(self, org: str, name: str) -> None:
        with self._lock:
            self._issued.pop((org, name), None)

    def service_identity(self) -> SigningIdentity:
        return self.network.service_identity(self.approver_org)

    def gateway(self, identity: SigningIdentity) -> Any:
        key = identity.cert_bytes.hex()
        with self._lock:
            gw = self._gateways.get(key)
            if gw is None:
                gw = self._gateways[key] = self.network.gateway(identity)
            return gw

    # --- queries --------------------------------------------------------------------------
    def evaluate(self, function: str, args: Sequence[str]) -> Any:
        from ledger.gateway import GatewayError

        try:
            raw = self.gateway(self.service_identity()).evaluate(function, list(args))
        except GatewayError as exc:
            code = str(getattr(exc, "code", "LEDGER_ERROR"))
            message = str(getattr(exc, "message", exc))
            if any(hint in code for hint in _NOT_FOUND_HINTS):
                raise NotFound(code, message) from None
            if code in UNAVAILABLE_CODES:
                raise LedgerUnavailable(code, message) from None
            raise AppError(code, message) from None
        return json.loads(raw) if raw else None

    def query_user(self, user_id: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] | None = self.evaluate("queryUser", [user_id])
            return found
        except NotFound:
            return None

    def query_asset(self, asset_id: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] | None = self.evaluate("queryAsset", [asset_id])
            return found
        except NotFound:
            return None

    def asset_history(self, asset_id: str, query_type: str = "all") -> list[dict[str, Any]]:
        try:
            result = self.evaluate("assetsExchangeHistory", [asset_id, query_type])
        except NotFound:
            return []
        return list(result or [])

    def list_assets(self, on_sale_only: bool = False) -> list[dict[str, Any]]:
        """Assets in id order, page by page (listAssets), at most LIST_PAGES_MAX pages."""
        assets: list[dict[str, Any]] = []
        start_after = ""
        for _ in range(LIST_PAGES_MAX):
            page = self.evaluate("listAssets", ["true" if on_sale_only else "false", start_after]) or {}
            assets.extend(item for item in page.get("Assets", []) if isinstance(item, dict))
            start_after = page.get("Next") or ""
            if not start_after:
                break
        return assets

    # --- transactions ---------------------------------------------------------------------
    def new_invocation(self, identity: SigningIdentity, function: str, args: Sequence[str]) -> tuple[Invocation, str]:
        invocation = self.gateway(identity).new_invocation(function, list(args))
        return invocation, compute_tx_id(invocation)

    @staticmethod
    def signoff(kind: str, signer: SigningIdentity, tx_id: str) -> Signoff:
        from ledger.gateway import make_signoff

        return make_signoff(kind, signer, tx_id)

    def submit(
        self,
        submitter: SigningIdentity,
        invocation: Invocation,
        signoffs: Sequence[Signoff],
        timeout_s: float,
        on_ordered: Callable[[], None] | None = None,
    ) -> Outcome:
        """Endorse, order (then `on_ordered`), wait for the commit. A COMMIT_TIMEOUT is not a
        failure: the outcome is unsettled and `commit_status` settles it later. A transaction id
        already on the ledger (a retry of an ordered one) takes that first instance's outcome."""
        from ledger.gateway import CommitError, CommitTimeout, EndorsementError, GatewayError

        tx_id = compute_tx_id(invocation)
        try:
            pending = self.gateway(submitter).submit_async(invocation, list(signoffs))
            if on_ordered is not None:
                on_ordered()
            result = pending.result(timeout_s)
        except CommitTimeout as exc:
            return Outcome(False, tx_id, None, COMMIT_TIMEOUT, str(exc.message), settled=False)
        except (EndorsementError, CommitError) as exc:
            if str(exc.code) == DUPLICATE_TXID:
                earlier = self.commit_status(tx_id)
                if earlier is not None:
                    return earlier
            return Outcome(False, tx_id, getattr(exc, "block", None), str(exc.code), str(exc.message))
        except GatewayError as exc:
            return Outcome(False, tx_id, None, str(getattr(exc, "code", "LEDGER_ERROR")), str(getattr(exc, "message", exc)))
        code = getattr(result.code, "name", str(result.code))
        return Outcome(code == "VALID", result.tx_id, result.block, code, "")

    def simulate(self, submitter: SigningIdentity, invocation: Invocation, signoffs: Sequence[Signoff]) -> Simulation:
        """Endorse without ordering (the gateway's dry run): what the transaction would write,
        or the refusal it would get. Nothing reaches the orderer, so nothing can commit."""
        from ledger.gateway import GatewayError

        try:
            payload = self.gateway(submitter).simulate(invocation, list(signoffs))
        except GatewayError as exc:
            return Simulation(False, str(getattr(exc, "code", "LEDGER_ERROR")), str(getattr(exc, "message", exc)), (), ())
        writes = tuple((w.key, w.value, w.is_delete) for w in payload.rwset.writes)
        return Simulation(True, "", "", tuple(r.key for r in payload.rwset.reads), writes)

    def commit_status(self, tx_id: str) -> Outcome | None:
        """The transaction's outcome from any live peer's index, or None if none has it."""
        found = self.gateway(self.service_identity()).commit_status(tx_id)
        if found is None:
            return None
        block, code = found
        return Outcome(code.name == "VALID", tx_id, block, code.name, "" if code.name == "VALID" else describe_code(code.name))

    def components(self) -> dict[str, Any]:
        """Each ledger component as health checks report it: every peer and the orderer."""
        peers = [
            {"name": p.name, "org": p.org, "status": "ok" if p.alive else "down", "height": p.height} for p in self.network.peers
        ]
        orderer_alive = bool(getattr(self.network.orderer, "alive", True))
        return {"peers": peers, "orderer": {"status": "ok" if orderer_alive else "down", "height": self.network.orderer.height}}

    def can_commit(self) -> bool:
        """Whether the ledger can take a transaction now: live peers satisfy the policy and
        the ordering service runs."""
        gateway = self.gateway(self.service_identity())
        orderer_alive = bool(getattr(self.network.orderer, "alive", True))
        return orderer_alive and gateway.can_endorse()

    # --- explorer -------------------------------------------------------------------------
    @property
    def peers(self) -> list[PeerService]:
        return list(self.network.peers)

    def peer_status(self) -> list[dict[str, Any]]:
        return [{"name": s.name, "org": s.org, "height": s.height, "commit_hash": s.commit_hash} for s in self.network.status()]

    def _readers(self) -> list[PeerService]:
        """The live peers, most blocks first. A dead peer keeps the height it had when it
        died, often the highest, so choosing by height alone would pick it and fail."""
        live = sorted((p for p in self.peers if p.alive), key=lambda p: p.height, reverse=True)
        if not live:
            raise LedgerUnavailable("NO_PEERS", "No peer of the network is running; try again once a peer is back.")
        return live

    def _read(self, what: Callable[[PeerService], _T]) -> _T:
        """`what` on the best live peer, on the next one if that peer dies meanwhile (a
        503, never a 500, when none is left): explorer pages and the console's indexes
        read blocks, and one dead peer must not take them down."""
        for peer in self._readers():
            try:
                return what(peer)
            except LedgerError as exc:  # the peer's refusal (EndorserRefusal): only "it is gone" moves on
                if str(exc.code) != EndorserCode.PEER_UNAVAILABLE:
                    raise
        raise LedgerUnavailable("NO_PEERS", "No peer of the network answered; try again once a peer is back.")

    def block(self, number: int) -> dict[str, Any]:
        from ledger.tools.explorer import describe_block

        def read(peer: PeerService) -> dict[str, Any]:
            if not 0 <= number < peer.height:
                raise NotFound("BLOCK_NOT_FOUND", f"There is no block {number}; the chain has {peer.height} blocks.")
            return describe_block(decode(peer.block(number), Block))

        return self._read(read)

    def block_summary(self, number: int) -> tuple[int, int, list[TxSummary]]:
        """(timestamp_ms, encoded size, every transaction with its code and writes) of block
        `number`, for the console's indexes fed from committed blocks."""
        from ledger.tools.explorer import block_transactions

        raw = self._read(lambda peer: peer.block(number))
        block = decode(raw, Block)
        return block.header.timestamp_ms, len(raw), block_transactions(block)

    @property
    def namespace_prefix(self) -> str:
        """How the contract's keys are stored: `<chaincode>/` + key (what history and blocks show)."""
        from ledger.core.statekeys import namespaced

        return namespaced(self.network.chaincode_name, "")

    def transaction(self, tx_id: str) -> dict[str, Any]:
        from ledger.tools.explorer import describe_transaction

        def read(peer: PeerService) -> dict[str, Any]:
            location = peer.tx_location(tx_id) if len(tx_id) == 64 else None
            if location is None:
                raise NotFound("TX_NOT_FOUND", f"No transaction {tx_id!r} is on the ledger.")
            block_number, tx_num = location[0], location[1]
            return describe_transaction(decode(peer.block(block_number), Block), tx_num)

        return self._read(read)

    def key_history(self, key: str) -> list[dict[str, Any]]:
        entries = []
        for entry in self._read(lambda peer: list(peer.history(key))):
            try:
                value = entry.value.decode("utf-8")
            except UnicodeDecodeError:
                value = entry.value.hex()
            entries.append(
                {"block": entry.block, "tx_num": entry.tx_num, "tx_id": entry.tx_id, "timestamp_ms": entry.timestamp_ms, "value": value, "is_delete": entry.is_delete}
            )
        return entries

    def verify(self) -> Any:
        from ledger.tools.verify import verify_network

        return verify_network(self.network.data_dir, live_peers=self.network.peers)

    @property
    def console_org(self) -> str | None:
        return getattr(self.network, "console_org", None)

    def height(self) -> int:
        """The chain's height on the live peers (the blocks a reader can serve)."""
        return self._readers()[0].height


def encode_invocation(invocation: Invocation) -> str:
    return encode(invocation).hex()


def decode_invocation(text: str) -> Invocation:
    return decode(bytes.fromhex(text), Invocation)


def encode_signoffs(signoffs: Sequence[Signoff]) -> str:
    return json.dumps([encode(s).hex() for s in signoffs])


def decode_signoffs(text: str) -> list[Signoff]:
    return [decode(bytes.fromhex(item), Signoff) for item in json.loads(text)]

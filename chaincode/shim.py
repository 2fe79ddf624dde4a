"""A small Fabric-like shim, so a contract declares its functions instead of parsing proposals.

A `Contract` subclass marks methods with `@transaction("name", "param", ...)` (state-changing)
or `@query("name", "param", ...)` (read-only). `Contract.invoke(ctx)` dispatches on
`ctx.function`, checks the argument count, runs the subclass's `check_transaction` hook for
state-changing functions, calls the method with a `Stub` and the string arguments, and
encodes the returned value as canonical JSON. Nothing here knows about any particular
contract.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import msgspec

from ledger.core.identity import Identity
from ledger.execute.chaincode_api import ChaincodeContext, ChaincodeRefusal, HistoryEntry

BAD_ARGUMENTS = "BAD_ARGUMENTS"
UNKNOWN_FUNCTION = "UNKNOWN_FUNCTION"
RANGE_ENTRIES_MAX = 10_000  # a hard cap on one range read, whatever the caller asks for

KIND_TRANSACTION = "transaction"
KIND_QUERY = "query"


_JSON_ENCODER = msgspec.json.Encoder(order="sorted")
_json_encode = _JSON_ENCODER.encode
json_decode = msgspec.json.Decoder().decode  # state values are only ever written by canonical_json


def canonical_json(value: Any) -> bytes:
    """The one JSON encoding written to state and returned: same value, same bytes on every peer.

    Keys sorted, no spaces, UTF-8 (not \\u escapes) except for `"`, `\\` and control
    characters: byte for byte what `json.dumps(value, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False).encode()` gives for str keys, str, int (any size), bool, None, lists,
    tuples and dicts (tests/test_contract_codec.py checks every code point), at a tenth of
    the cost. Not for floats: NaN and infinities, which JSON cannot express, become null.
    """
    return _json_encode(value)


def refuse(code: str, message: str) -> ChaincodeRefusal:
    """Build a refusal (callers `raise refuse(...)` so the control flow stays visible)."""
    return ChaincodeRefusal(str(code), message)


def prefix_range(prefix: str) -> tuple[str, str]:
    """[start, end) covering exactly the keys that begin with `prefix`."""
    assert prefix, "an empty prefix would scan the whole state"
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """One callable chaincode function: its public name, parameters and kind."""

    name: str
    params: tuple[str, ...]
    kind: str
    method: Callable[..., Any]


def _declare(kind: str, name: str, params: tuple[str, ...]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def mark(method: Callable[..., Any]) -> Callable[..., Any]:
        positional = list(inspect.signature(method).parameters)[2:]  # after self, stub
        assert len(positional) == len(params), f"{name}: declared {params}, method takes {positional}"
        method.__chaincode_function__ = (kind, name, params)  # type: ignore[attr-defined]
        return method

    return mark


def transaction(name: str, *params: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a state-changing function (the contract's `check_transaction` hook runs first)."""
    return _declare(KIND_TRANSACTION, name, params)


def query(name: str, *params: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a read-only function (also run through evaluate, where writes are discarded)."""
    return _declare(KIND_QUERY, name, params)


class Stub:
    """Typed helpers over a `ChaincodeContext`: JSON state, signoffs, transaction facts."""

    __slots__ = ("ctx", "tx_id", "timestamp_ms", "_party_ids")

    def __init__(self, ctx: ChaincodeContext) -> None:
        self.ctx = ctx
        self.tx_id: str = ctx.tx_id  # fixed for the whole call: copied once, read often
        self.timestamp_ms: int = ctx.timestamp_ms
        self._party_ids: tuple[str, ...] | None = None

    @property
    def function(self) -> str:
        return self.ctx.function

    @property
    def creator(self) -> Identity:
        return self.ctx.creator

    def get_json(self, key: str) -> Any | None:
        """The decoded JSON value at `key`, or None when absent."""
        raw = self.ctx.get_state(key)
        return None if raw is None else json_decode(raw)

    def put_json(self, key: str, value: Any) -> None:
        self.ctx.put_state(key, canonical_json(value))

    def get_text(self, key: str) -> str | None:
        raw = self.ctx.get_state(key)
        return None if raw is None else raw.decode("utf-8")

    def put_text(self, key: str, value: str) -> None:
        self.ctx.put_state(key, value.encode("utf-8"))

    def delete(self, key: str) -> None:
        self.ctx.del_state(key)

    def range_json(self, start: str, end: str, limit: int) -> list[tuple[str, Any]]:
        """Up to `limit` (key, decoded value) pairs in [start, end), in key order."""
        assert 0 < limit <= RANGE_ENTRIES_MAX, f"range limit {limit} outside 1..{RANGE_ENTRIES_MAX}"
        found: list[tuple[str, Any]] = []
        rows: Iterator[tuple[str, bytes]] = self.ctx.get_state_by_range(start, end)
        for key, raw in rows:
            if len(found) >= limit:
                break
            found.append((key, json_decode(raw)))
        return found

    def prefix_json(self, prefix: str, limit: int) -> list[tuple[str, Any]]:
        start, end = prefix_range(prefix)
        return self.range_json(start, end, limit)

    def history(self, key: str) -> list[HistoryEntry]:
        return self.ctx.get_history_for_key(key)

    def party_ids(self) -> tuple[str, ...]:
        """Ids ("Org/name") of the users this transaction acts for, as signed by them."""
        ids = self._party_ids
        if ids is None:
            ids = self._party_ids = tuple([s.identity.id for s in self.ctx.signoffs if s.kind == "party"])
        return ids

    def approvals(self) -> tuple[Identity, ...]:
        """Identities that signed an approval of this transaction."""
        return tuple([s.identity for s in self.ctx.signoffs if s.kind == "approval"])

    def set_event(self, name: str, payload: Any) -> None:
        self.ctx.set_event(name, canonical_json(payload))


class Contract:
    """Base of every contract: collects the declared functions and dispatches `invoke`."""

    functions: ClassVar[dict[str, FunctionSpec]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table: dict[str, FunctionSpec] = {}
        for klass in reversed(cls.__mro__):
            for attr in vars(klass).values():
                mark = getattr(attr, "__chaincode_function__", None)
                if mark is not None:
                    kind, name, params = mark
                    table[name] = FunctionSpec(name, params, kind, attr)
        cls.functions = table

    def check_transaction(self, stub: Stub, spec: FunctionSpec) -> None:
        """Hook run before every state-changing function; raise a refusal to stop it."""

    def invoke(self, ctx: ChaincodeContext) -> bytes:
        """Run `ctx.function` with `ctx.args`; returns JSON bytes or raises ChaincodeRefusal."""
        spec = self.functions.get(ctx.function)
        if spec is None:
            known = ", ".join(sorted(self.functions))
            raise refuse(UNKNOWN_FUNCTION, f"this chaincode has no function {ctx.function!r}; it has: {known}")
        args = ctx.args
        if len(args) != len(spec.params) or not all(isinstance(a, str) for a in args):
            expected = ", ".join(spec.params)
            raise refuse(BAD_ARGUMENTS, f"{spec.name} takes {len(spec.params)} string arguments ({expected}), got {len(args)}")
        stub = Stub(ctx)
        if spec.kind == KIND_TRANSACTION:
            self.check_transaction(stub, spec)
        return _json_encode(spec.method(self, stub, *args))

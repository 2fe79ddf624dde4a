"""Requests made in the same loop turn travel as one NATS request (`ledger.transport.nats_batch`),
on a real NATS server: each caller gets its own item's reply, a lone request leaves at once,
limits split batches, and a request that fails as a whole fails every item of it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats.errors
import pytest
from natskit import nats_cluster

from ledger.core.codes import GatewayCode
from ledger.transport import nats_batch
from ledger.transport.nats_batch import BATCH_ITEMS_MAX, BatchRefused, Coalescer, decode_batch, serve_batch, serve_batch_in_turn
from ledger.transport.nats_client import NatsClient

SUBJECT = "test.batch"
TIMEOUT_S = 5.0


@pytest.fixture
def client(tmp_path: Path) -> Iterator[NatsClient]:
    with nats_cluster(tmp_path / "nats", size=1) as running:
        connected = NatsClient({"servers": running.urls})
        yield connected
        connected.close()


class Echo:
    """A responder that answers each item with b"re:" + item, and counts the requests it got."""

    def __init__(self, client: NatsClient, subject: str = SUBJECT) -> None:
        self.requests: list[int] = []  # items per request

        async def on_request(msg: Any) -> None:
            self.requests.append(len(decode_batch(msg.data)))
            await msg.respond(await serve_batch(msg.data, self.answer, lambda: b"not a batch"))

        client.run(client.nc.subscribe(subject, cb=on_request), TIMEOUT_S)
        client.run(client.nc.flush(), TIMEOUT_S)

    async def answer(self, item: bytes) -> bytes:
        return b"re:" + item


def test_calls_of_one_loop_turn_go_as_one_request_and_each_gets_its_own_reply(client: NatsClient) -> None:
    echo = Echo(client)
    batcher = Coalescer(client, SUBJECT, TIMEOUT_S)

    async def many() -> list[bytes]:
        return await asyncio.gather(*(batcher.call(b"%d" % i) for i in range(40)))

    replies = client.run(many(), TIMEOUT_S)
    assert replies == [b"re:%d" % i for i in range(40)]
    assert echo.requests == [40]


def test_a_lone_call_leaves_at_once(client: NatsClient) -> None:
    echo = Echo(client)
    batcher = Coalescer(client, SUBJECT, TIMEOUT_S)

    async def one_after_another() -> list[bytes]:
        return [await batcher.call(b"a"), await batcher.call(b"b")]

    assert client.run(one_after_another(), TIMEOUT_S) == [b"re:a", b"re:b"]
    assert echo.requests == [1, 1]


def test_batches_are_split_by_count_and_a_large_item_travels_alone(client: NatsClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nats_batch, "BATCH_BYTES_MAX", 1000)
    echo = Echo(client)
    batcher = Coalescer(client, SUBJECT, TIMEOUT_S)
    items = [b"x"] * (BATCH_ITEMS_MAX + 5) + [b"L" * 1500, b"y"]

    async def all_at_once() -> list[bytes]:
        return await asyncio.gather(*(batcher.call(item) for item in items))

    assert client.run(all_at_once(), TIMEOUT_S) == [b"re:" + item for item in items]
    assert echo.requests == [BATCH_ITEMS_MAX, 5, 1, 1]


def test_a_request_nobody_answers_fails_every_item_with_the_nats_error(client: NatsClient) -> None:
    batcher = Coalescer(client, "test.nobody", TIMEOUT_S)

    async def two() -> list[Any]:
        return await asyncio.gather(batcher.call(b"a"), batcher.call(b"b"), return_exceptions=True)

    errors = client.run(two(), TIMEOUT_S * 2)
    assert [type(e) for e in errors] == [nats.errors.NoRespondersError] * 2


def test_a_reply_that_is_not_one_per_item_is_refused_with_a_stable_code(client: NatsClient) -> None:
    async def short(msg: Any) -> None:
        await msg.respond(nats_batch.encode_batch([b"only one"]))

    async def garbage(msg: Any) -> None:
        await msg.respond(b"\xc1")

    client.run(client.nc.subscribe("test.short", cb=short), TIMEOUT_S)
    client.run(client.nc.subscribe("test.garbage", cb=garbage), TIMEOUT_S)
    for subject in ("test.short", "test.garbage"):
        batcher = Coalescer(client, subject, TIMEOUT_S)

        async def two(b: Coalescer = batcher) -> list[Any]:
            return await asyncio.gather(b.call(b"a"), b.call(b"b"), return_exceptions=True)

        errors = client.run(two(), TIMEOUT_S)
        assert all(isinstance(e, BatchRefused) and e.code == GatewayCode.BAD_BATCH_REPLY for e in errors), errors


def test_serve_batch_refuses_what_is_not_a_batch() -> None:
    async def answer(item: bytes) -> bytes:
        raise AssertionError("no item to answer")

    for data in (b"", b"\xc1", nats_batch.encode_batch([]) + b"junk", b"\x91\x01"):  # the last: [1], not bytes
        assert asyncio.run(serve_batch(data, answer, lambda: b"refused")) == b"refused"


def test_serve_batch_in_turn_answers_as_serve_batch_does() -> None:
    """The no-task variant (a peer's endorsements) gives the same reply bytes, in order, and
    the same refusal of what is not a batch."""
    seen: list[bytes] = []

    def answer_now(item: bytes) -> bytes:
        seen.append(item)
        return item[::-1]

    async def answer(item: bytes) -> bytes:
        return item[::-1]

    batch = nats_batch.encode_batch([b"one", b"two", b"three"])
    assert serve_batch_in_turn(batch, answer_now, lambda: b"refused") == asyncio.run(serve_batch(batch, answer, lambda: b"refused"))
    assert seen == [b"one", b"two", b"three"]
    assert decode_batch(serve_batch_in_turn(batch, answer_now, lambda: b"refused")) == [b"eno", b"owt", b"eerht"]
    for data in (b"", b"\xc1", nats_batch.encode_batch([]) + b"junk", b"\x91\x01"):
        assert serve_batch_in_turn(data, answer_now, lambda: b"refused") == b"refused"

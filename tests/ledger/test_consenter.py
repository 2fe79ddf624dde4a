"""The networked cutting rule (pure): every orderer that reads the same envelopes stream,
from the start or resuming after any block it finds in the blocks stream, cuts the same
blocks; every envelope lands in exactly one block, in stream order; first marker wins."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.core.channel_config import BatchParameters
from ledger.order.consenter import Consenter, CutBatch, StreamItem

BATCH = BatchParameters(max_message_count=4, preferred_max_bytes=100, absolute_max_bytes=400, batch_timeout_ms=50)


def run(items: list[StreamItem], next_number: int = 1, next_seq: int = 1) -> list[CutBatch]:
    consenter = Consenter(BATCH, next_number, next_seq)
    out: list[CutBatch] = []
    for item in items:
        if item.seq >= next_seq:
            out.extend(consenter.feed(item))
    return out


# A stream message is an envelope of some size or a marker for a block near the current one
# (several orderers' timers fire for the same block; some markers arrive late).
message = st.one_of(
    st.tuples(st.just("env"), st.integers(1, 160)),
    st.tuples(st.just("ttc"), st.integers(-2, 2)),
)


def make_stream(spec: list[tuple[str, int]]) -> list[StreamItem]:
    items: list[StreamItem] = []
    consenter = Consenter(BATCH, 1, 1)  # to aim markers at the block being built, as timers do
    for seq, (kind, value) in enumerate(spec, start=1):
        ts = 1000 + seq * 7
        if kind == "env":
            item = StreamItem(seq, ts, envelope=seq.to_bytes(4, "big") * (value // 4 + 1))
        else:
            item = StreamItem(seq, ts, cut_block=max(1, consenter.next_number + value))
        consenter.feed(item)
        items.append(item)
    return items


@settings(max_examples=300, deadline=None)
@given(st.lists(message, max_size=120), st.data())
def test_every_orderer_cuts_identical_blocks_from_any_resume_point(spec: list[tuple[str, int]], data: st.DataObject) -> None:
    stream = make_stream(spec)
    reference = run(stream)
    envelopes = [i.envelope for i in stream if i.cut_block is None]
    cut = [e for b in reference for e in b.envelopes]
    pending = envelopes[len(cut):]
    assert cut == envelopes[: len(cut)]  # each envelope once, in stream order
    assert len(pending) <= BATCH.max_message_count
    for block in reference:
        assert block.envelopes and len(block.envelopes) <= BATCH.max_message_count
        assert sum(map(len, block.envelopes)) <= BATCH.preferred_max_bytes or len(block.envelopes) == 1
        assert [b.number for b in reference] == list(range(1, len(reference) + 1))
    if reference:
        # an orderer restarted after block k (as found in the blocks stream) cuts the rest alike
        k = data.draw(st.integers(0, len(reference) - 1))
        resumed = run(stream, next_number=reference[k].number + 1, next_seq=reference[k].resume_seq)
        assert resumed == reference[k + 1 :]


def test_first_marker_for_a_block_cuts_it_and_later_ones_are_ignored() -> None:
    stream = [
        StreamItem(1, 10, envelope=b"a"),
        StreamItem(2, 20, cut_block=1),  # orderer0's timer
        StreamItem(3, 30, cut_block=1),  # orderer1's, late: block 1 is cut
        StreamItem(4, 40, envelope=b"b"),
        StreamItem(5, 50, cut_block=3),  # not the block being built
        StreamItem(6, 60, cut_block=2),
    ]
    blocks = run(stream)
    assert [(b.number, b.envelopes, b.timestamp_ms) for b in blocks] == [(1, [b"a"], 20), (2, [b"b"], 60)]
    assert [b.resume_seq for b in blocks] == [3, 7]


def test_block_timestamp_is_the_stream_time_of_the_message_that_completes_it() -> None:
    stream = [StreamItem(s, 100 * s, envelope=bytes([s]) * 10) for s in range(1, 6)]
    blocks = run(stream)
    assert [(b.number, b.timestamp_ms, b.resume_seq) for b in blocks] == [(1, 400, 5)]

"""The block cutter: count, preferred bytes, and an oversized envelope alone."""

from __future__ import annotations

import pytest

from ledger.core.channel_config import BatchParameters
from ledger.order.blockcutter import BlockCutter


def cutter(count: int = 3, preferred: int = 100, absolute: int = 1000) -> BlockCutter:
    return BlockCutter(BatchParameters(count, preferred, absolute, 50))


def env(size: int, tag: int = 0) -> bytes:
    return bytes([tag]) * size


def test_batch_is_cut_at_the_maximum_message_count() -> None:
    c = cutter(count=3)
    assert c.ordered(env(10, 1)) == [] and c.ordered(env(10, 2)) == []
    assert c.ordered(env(10, 3)) == [[env(10, 1), env(10, 2), env(10, 3)]]
    assert c.pending_count == 0


def test_envelope_that_would_pass_preferred_bytes_starts_the_next_batch() -> None:
    c = cutter(count=10, preferred=100)
    assert c.ordered(env(60, 1)) == []
    assert c.ordered(env(40, 2)) == []  # exactly 100: still fits
    assert c.ordered(env(1, 3)) == [[env(60, 1), env(40, 2)]]
    assert c.pending_count == 1


def test_oversized_envelope_goes_alone_after_cutting_what_is_pending() -> None:
    c = cutter(count=10, preferred=100)
    c.ordered(env(10, 1))
    assert c.ordered(env(150, 2)) == [[env(10, 1)], [env(150, 2)]]
    assert c.pending_count == 0
    assert cutter().ordered(env(150, 3)) == [[env(150, 3)]]


def test_cut_returns_pending_and_empties() -> None:
    c = cutter()
    c.ordered(env(5, 1))
    assert c.cut() == [env(5, 1)] and c.cut() == []


def test_envelope_above_absolute_max_is_a_programmer_error() -> None:
    with pytest.raises(AssertionError):
        cutter(absolute=200).ordered(env(201))


@pytest.mark.parametrize(
    "sizes, count, preferred, expected",
    [
        ([10] * 7, 3, 1000, [[10] * 3, [10] * 3]),
        ([50, 50, 50], 10, 100, [[50, 50]]),
        ([30, 200, 30, 30], 10, 100, [[30], [200]]),
        ([100, 1], 10, 100, [[100]]),
    ],
)
def test_batching_table(sizes: list[int], count: int, preferred: int, expected: list[list[int]]) -> None:
    c = cutter(count=count, preferred=preferred)
    batches = [batch for size in sizes for batch in c.ordered(env(size))]
    assert [[len(e) for e in batch] for batch in batches] == expected

"""Commit listeners, as every peer (in process, behind a pipe, over NATS) keeps them: each is
told every event in order, and one that raises is logged without stopping the others."""

from __future__ import annotations

from typing import Any

from ledger.commit.listeners import CommitListeners
from ledger.core.messages import CommitEvent


class Log:
    def __init__(self) -> None:
        self.errors: list[tuple[str, dict[str, Any]]] = []

    def error(self, event: str, **fields: Any) -> None:
        self.errors.append((event, fields))


def test_a_raising_listener_is_logged_and_the_others_are_still_told_in_order() -> None:
    log = Log()
    listeners = CommitListeners("peer0.Org1", log)
    told: list[tuple[str, int]] = []

    def broken(event: CommitEvent) -> None:
        raise RuntimeError("listener bug")

    listeners.add(lambda e: told.append(("first", e.number)))
    listeners.add(broken)
    listeners.add(lambda e: told.append(("last", e.number)))
    for number in (1, 2):
        listeners.notify(CommitEvent(number, ("tx",), b"\x00", b"h"))
    assert told == [("first", 1), ("last", 1), ("first", 2), ("last", 2)]
    assert [(event, fields["peer"]) for event, fields in log.errors] == [("commit_listener_failed", "peer0.Org1")] * 2
    assert "listener bug" in log.errors[0][1]["error"]


def test_a_listener_added_while_events_are_told_hears_the_next_one() -> None:
    listeners = CommitListeners("peer0.Org1", Log())
    told: list[int] = []

    def adds_another(event: CommitEvent) -> None:
        if event.number == 1:
            listeners.add(lambda e: told.append(e.number))

    listeners.add(adds_another)
    listeners.notify(CommitEvent(1, (), b"", b""))
    listeners.notify(CommitEvent(2, (), b"", b""))
    assert told == [2]

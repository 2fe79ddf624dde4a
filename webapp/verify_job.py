"""A full `verify` started from the console: in the background, one at a time.

Verifying re-reads every block file and replays every peer's state; on a long chain that
takes far longer than a page request may. The job runs on its own thread; a second start
while one runs is refused with VERIFY_RUNNING (nothing is queued), and the explorer shows
the last result: blocks checked (the chain's height, not blocks times nodes) and per node.
Each live peer checks its own files on a consistent snapshot (`PeerQueries.verify_chain`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import structlog

from webapp.chain import Chain
from webapp.errors import Conflict

log = structlog.get_logger("webapp.verify")
VERIFY_SHUTDOWN_WAIT_S = 30.0


@dataclass
class VerifyState:
    running: bool = False
    started_at: float | None = None
    finished_at: float | None = None
    elapsed_ms: int | None = None
    ok: bool | None = None
    blocks_checked: int = 0  # the longest chain checked
    nodes: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    runs: int = 0
    unavailable: str = ""  # the verify could not check every node (one is down): no verdict either way


class VerifyJob:
    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self._lock = threading.Lock()
        self._state = VerifyState()
        self._thread: threading.Thread | None = None

    def state(self) -> VerifyState:
        with self._lock:
            return VerifyState(**{k: getattr(self._state, k) for k in VerifyState.__dataclass_fields__})

    def start(self) -> None:
        with self._lock:
            if self._state.running:
                raise Conflict("VERIFY_RUNNING", "A verify is already running; its result appears on the explorer when it ends.")
            self._state.running = True
            self._state.started_at = time.time()
            self._thread = threading.Thread(target=self._run, name="console-verify", daemon=True)
            self._thread.start()

    def wait(self, timeout_s: float) -> bool:
        """Whether the running job (if any) ended within `timeout_s` (for shutdown and tests)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
        return not self.state().running

    def _run(self) -> None:
        from ledger.core.codes import EndorserCode
        from ledger.core.errors import LedgerError

        started = time.monotonic()
        ok: bool | None
        unavailable = ""
        try:
            report = self.chain.verify()
            ok, problems = bool(report.ok), list(report.problems)
            nodes = [{"node": c.node, "height": c.height, "problems": len(c.problems)} for c in report.chains]
        except LedgerError as exc:  # a peer's refusal (EndorserRefusal) or another stage's
            if exc.code != EndorserCode.PEER_UNAVAILABLE:
                log.warning("verify_failed", error=str(exc))
                ok, problems, nodes = False, [f"verify could not run: {exc}"], []
            else:  # a peer is down: its ledger was not checked, which says nothing against it
                log.warning("verify_unavailable", error=str(exc))
                ok, problems, nodes = None, [], []
                unavailable = f"{exc.code}: {exc.message}"
        except Exception as exc:  # a verify that cannot run is a failed verify, shown, never a dead thread
            log.warning("verify_failed", error=str(exc))
            ok, problems, nodes = False, [f"verify could not run: {exc}"], []
        with self._lock:
            self._state = VerifyState(
                running=False, started_at=self._state.started_at, finished_at=time.time(), elapsed_ms=int((time.monotonic() - started) * 1000),
                ok=ok, blocks_checked=max((n["height"] for n in nodes), default=0), nodes=nodes, problems=problems, runs=self._state.runs + 1,
                unavailable=unavailable,
            )

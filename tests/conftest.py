"""Suite-wide ordering and how the suite splits over two workers (pytest-xdist, `pytest -n 2`).

Not the default yet (pyproject's addopts say `-n 0`): in three full runs on two workers one
module with a module-scoped network (tests/metering/test_metering_on_network.py, and
tests/webapp/test_dead_peers.py) still had its later tests run against a fresh network,
as if split from its first test, despite the module groups below; until that is found,
`make test` runs in one process (about 12 minutes here).

Why two workers: about half of the suite's wall time is waiting (for nodes to start, for a
SIGSTOPped orderer's ten seconds, for a leader election, a supervisor's backoff), not CPU,
so two workers on the two cores take the suite from ~12 to ~7 minutes.

Three rules keep that as deterministic as the serial run:
- The consortium tests (`tests/nodes`, `tests/network`: real NATS clusters, fault injection
  under load) are one xdist group, run one after another on one worker, and first, so two
  fault tests never compete for the cores and the longest serial chain starts at once.
- The browser tests are another group, and last. Playwright's sync API keeps an asyncio
  event loop running on its worker's main thread for as long as its session-scoped browser
  lives, so any later test calling `asyncio.run` (the NATS tests, a gateway over NATS)
  would fail with "cannot be called from a running event loop". xdist's loadgroup hands
  out work in collection order (`--no-loadscope-reorder`), so nothing follows them.
- Every other test module is one unit of work, given whole to whichever worker is free:
  several modules build a network once (module-scoped fixtures) and let a later test use
  what an earlier one left (a dead peer, simulated meters), so a module's tests must run in
  one process, in order.
The same order holds in one process (`pytest -n 0`, handy with `-x` or a debugger): consortium first, browser last.
"""

from __future__ import annotations

import pytest

CONSORTIUM_DIRS = ("tests/nodes/", "tests/network/")
CONSORTIUM_FILES = ("tests/ledger/test_gateway_faults.py",)  # calls asyncio.run: never after the browser
BROWSER_DIR = "tests/browser/"


def _place(item: pytest.Item) -> int:
    """0: the consortium group, 1: its module's group, on any worker, 2: the browser group."""
    nodeid = item.nodeid.replace("\\", "/")
    if nodeid.startswith(BROWSER_DIR):
        return 2
    if nodeid.startswith(CONSORTIUM_DIRS) or nodeid.split("::")[0] in CONSORTIUM_FILES:
        return 0
    return 1


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook turns the group marks into scopes
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Stable partition: the consortium tests, then the rest, then the browser tests, each in collection order."""
    items.sort(key=_place)
    for item in items:
        place = _place(item)
        if place == 0:
            item.add_marker(pytest.mark.xdist_group("consortium"))
        elif place == 2:
            item.add_marker(pytest.mark.xdist_group("browser"))
        else:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))

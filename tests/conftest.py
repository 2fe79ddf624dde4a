"""Suite-wide ordering: the browser tests run last.

Playwright's sync API keeps an asyncio event loop running on the main thread for as long
as its session-scoped browser lives, so any later test calling `asyncio.run` (the NATS
tests, a gateway over NATS) would fail with "cannot be called from a running event loop".
Running the browser tests after everything else keeps that loop out of their way.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Stable partition: every non-browser test first, in collection order, then the browser tests."""
    items.sort(key=lambda item: "tests/browser/" in item.nodeid.replace("\\", "/"))

"""Fixtures of the node-layout tests (organizations, node directories, NATS credentials)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ["GRIDLEDGER_FAST_KDF"] = "1"
os.environ.setdefault("GRIDLEDGER_LOG_LEVEL", "WARNING")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from nodekit import NodeProcesses


@pytest.fixture
def nodes() -> Iterator[NodeProcesses]:
    running = NodeProcesses()
    try:
        yield running
    finally:
        running.stop()

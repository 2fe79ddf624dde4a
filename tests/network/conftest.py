"""Fixtures of the networked-mode tests: a real NATS cluster, a network initialised with
three orderer nodes, and node directories made from it."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ["GRIDLEDGER_FAST_KDF"] = "1"
os.environ.setdefault("GRIDLEDGER_LOG_LEVEL", "WARNING")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from natskit import Cluster, nats_cluster


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with nats_cluster(tmp_path / "nats") as running:
        yield running

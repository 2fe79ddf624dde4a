"""The machine a benchmark ran on, measured when it ran.

Machines of one kind differ: the same build's embedded network committed 401-455 VALID tx/s
at 700 tx/s on one 2-core machine and 642-656 on another (README, Performance), and what
tells them apart is the cost of the work every transaction repeats, an Ed25519 check and
signature. So each bench report says
what these cost on its machine, how busy the machine was before the run, and what it is:
figures from two reports compare only when these agree.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nacl.signing

from ledger.core import ed25519

CALIBRATION_ROUNDS = 3  # the fastest of these is the machine's cost (the others met noise)
CALIBRATION_OPERATIONS = 400  # per round: ~0.05 s of verifications
CALIBRATION_MESSAGE_BYTES = 1024  # about a proposal's size
CPU_INFO = Path("/proc/cpuinfo")


def cpu_model() -> str:
    """The CPU's model name as the kernel reports it ("unknown" where it does not)."""
    try:
        for line in CPU_INFO.read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _fastest_us(operation: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(CALIBRATION_ROUNDS):
        started = time.perf_counter()
        for _ in range(CALIBRATION_OPERATIONS):
            operation()
        best = min(best, time.perf_counter() - started)
    return round(best / CALIBRATION_OPERATIONS * 1e6, 1)


def machine_facts() -> dict[str, Any]:
    """What the machine is and what one Ed25519 check and signature cost on it now (the
    verifier every node uses, `ledger.core.ed25519`), with the load average before the run."""
    key = nacl.signing.SigningKey.generate()
    message = bytes(CALIBRATION_MESSAGE_BYTES)
    signature = key.sign(message).signature
    public = bytes(key.verify_key)
    if not ed25519.verify(public, message, signature):
        raise AssertionError("the calibration signature does not verify")
    load_1m = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count() or 1,
        "python": platform.python_version(),
        "ed25519_verify_us": _fastest_us(lambda: ed25519.verify(public, message, signature)),
        "ed25519_sign_us": _fastest_us(lambda: key.sign(message)),
        "load_1m_before": round(load_1m, 2),
    }


def describe(machine: object) -> str:
    """One line for people: the machine and its unit costs ("" for a report made before
    reports carried them, or one whose `machine` is not an object)."""
    if not isinstance(machine, dict) or not machine:
        return ""
    return (
        f"{machine.get('cpu', 'unknown')}, {machine.get('cores', '?')} cores, Python {machine.get('python', '?')}; "
        f"Ed25519 verify {machine.get('ed25519_verify_us', '?')} µs, sign {machine.get('ed25519_sign_us', '?')} µs; "
        f"load {machine.get('load_1m_before', '?')} before the run"
    )

"""CPU time of processes and threads from /proc (utime + stime), for `bench`'s per-role figures.

A role is a whole process (a peer in its own process) or one thread of this process (the
orderer's loop, an in-process peer's commit thread); the gateway role is this process minus
those threads. Clock-tick resolution (usually 10 ms): meaningful over a round of seconds.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
GATEWAY_ROLE = "gateway"  # this process: clients, gateway, pipe links (less the threads named apart)

Source = tuple[int, int | None]  # (pid, thread id or None for the whole process)


def cpu_seconds(pid: int, tid: int | None = None) -> float:
    """utime + stime of a process, or of one of its threads; 0.0 once it is gone."""
    path = Path(f"/proc/{pid}/stat") if tid is None else Path(f"/proc/{pid}/task/{tid}/stat")
    try:
        stat = path.read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_S  # fields 14 and 15 of stat(5)


def sample(sources: Mapping[str, Source]) -> dict[str, float]:
    """CPU seconds of every role now, and of this whole process under GATEWAY_ROLE."""
    out = {role: cpu_seconds(pid, tid) for role, (pid, tid) in sources.items()}
    out[GATEWAY_ROLE] = cpu_seconds(os.getpid())
    return out


def per_transaction_ms(before: Mapping[str, float], after: Mapping[str, float], sources: Mapping[str, Source], transactions: int) -> dict[str, float]:
    """CPU milliseconds per transaction for each role over a window; the gateway role is
    this process less the roles that are threads of it."""
    used = {role: after[role] - before[role] for role in after}
    in_this_process = sum(used[role] for role, (pid, tid) in sources.items() if tid is not None and pid == os.getpid())
    used[GATEWAY_ROLE] -= in_this_process
    count = max(transactions, 1)
    return {role: round(1000 * seconds / count, 3) for role, seconds in sorted(used.items(), key=lambda kv: kv[0] != GATEWAY_ROLE)}

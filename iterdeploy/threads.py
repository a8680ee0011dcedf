"""How torch's OpenMP threads wait: decided once per process, before torch starts, from the machine's load.

OpenMP threads that finish their share of an operation spin, waiting for the next one (the ACTIVE
policy). On an idle machine that is fastest; beside other busy processes the spinning threads take
the cores the work needs, and two threads trained 3x slower beside one busy process and 9x slower
beside two. PASSIVE (sleep while waiting) cost ~30% when idle in that measurement (4% in
benchmarks/threads.py's, benchmarks/README.md) and holds up when busy. So: PASSIVE when other processes
keep the CPUs busy at start, ACTIVE when they are idle (within 7% of the best setting in all three states).
A policy set by the user (OMP_WAIT_POLICY in the environment) is left alone. The policy changes
timings only, never results.
"""

from __future__ import annotations

import os
import time

BUSY_CORES = 0.3
"""Other processes using more than this many cores at start make the threads wait passively."""


def busy_cores(window: float = 0.2) -> float | None:
    """Cores kept busy by the machine over `window` seconds (from /proc/stat); None where unreadable."""
    def sample() -> tuple[int, int] | None:
        try:
            with open("/proc/stat", encoding="ascii") as f:
                fields = [int(x) for x in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return sum(fields), idle

    first = sample()
    time.sleep(window)
    second = sample()
    if first is None or second is None or second[0] == first[0]:
        return None
    total, idle = second[0] - first[0], second[1] - first[1]
    return (1 - idle / total) * (os.cpu_count() or 1)


def choose_wait_policy() -> str:
    """Set OMP_WAIT_POLICY for this process (call before torch is imported); returns the policy in force."""
    if "OMP_WAIT_POLICY" in os.environ:
        return os.environ["OMP_WAIT_POLICY"]
    busy = busy_cores()
    policy = "PASSIVE" if busy is not None and busy > BUSY_CORES else "ACTIVE"
    os.environ["OMP_WAIT_POLICY"] = policy
    return policy

"""How many cores this process may run on (its CPU affinity: a worker pinned to one core has one).

The pass reads in one thread and computes in another, which keeps two cores busy. More threads
(pyarrow's parallel CSV parsing, a helper thread for text columns) only pay on a third core: on two
they take turns with those two and cost CPU for nothing (measured: docs/benchmarks.md, issue 14).
"""

import os

SPARE = 3  # cores from which the pass uses more threads than its two


def usable() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def spare() -> bool:
    """Whether there are cores beyond the pass's reading and computing threads."""
    return usable() >= SPARE

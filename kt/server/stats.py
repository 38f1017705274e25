"""Operation counters and process figures that both built-in servers
report (ktserver's report, ttserver's stat).

Who calls it: kt.server.kyoto.engine and kt.server.tyrant.engine.  Each
connection counts in its own list (no lock on the hot path, exact under
any number of threads); the board sums the live lists and keeps the sums
of closed connections.
"""

from __future__ import annotations

import os
import threading
from typing import List, Tuple, final

__all__ = ["CounterBoard", "memory_usage"]


@final
class CounterBoard:
    """Per-connection counter lists of ``size`` counters each."""

    size: int
    _live: List[List[int]]
    _retired: List[int]
    _lock: threading.Lock

    def __init__(self, size: int) -> None:
        self.size = size
        self._live = []
        self._retired = [0] * size
        self._lock = threading.Lock()

    def register(self) -> List[int]:
        """A new connection's counters (only its own thread writes them)."""
        counts = [0] * self.size
        with self._lock:
            self._live.append(counts)
        return counts

    def retire(self, counts: List[int]) -> None:
        """A connection ended: keep its counts, forget its list."""
        with self._lock:
            live = self._live
            for i in range(len(live)):
                if live[i] is counts:
                    del live[i]
                    break
            retired = self._retired
            for i in range(len(counts)):
                retired[i] += counts[i]

    def totals(self) -> List[int]:
        with self._lock:
            total = list(self._retired)
            for counts in self._live:
                for i in range(len(counts)):
                    total[i] += counts[i]
        return total

    def connections(self) -> int:
        with self._lock:
            return len(self._live)


def memory_usage() -> Tuple[int, int]:
    """(virtual size, resident size) of this process in bytes, from
    /proc/self/statm; (-1, -1) where that cannot be read."""
    try:
        with open("/proc/self/statm", "rb") as f:
            fields = f.read().split()
        page = os.sysconf("SC_PAGE_SIZE")
        return int(fields[0]) * page, int(fields[1]) * page
    except (OSError, ValueError, IndexError):
        return -1, -1

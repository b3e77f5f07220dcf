"""What the rest of the machine is doing with the CPU, and how many threads a pass should use.

Why: torch's OpenMP threads wait for each other at every parallel op. When another process
keeps a core busy, one of our threads is descheduled for a time slice at a time and every op
waits for it: measured on a 2-core machine, 2 threads went from ~28 ms to 0.5–1.9 s a pass
with one busy core, while 1 thread stayed near its idle speed. So `threads: 0` (auto) gives a
pass as many threads as there are cores the other processes leave free, re-measured between
passes from /proc/stat (the machine's busy time) minus this process's own CPU time.

`BusyCores` is the benchmarks' bounded background load: busy-loop processes that stop by
themselves at a deadline even if the benchmark dies.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

_PROC_STAT = Path("/proc/stat")
_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
MIN_INTERVAL_S = 0.2  # shorter windows are too coarse (10 ms ticks): keep the last answer
HEADROOM = 0.35  # a core counts as free when others use less than 65 % of it


def machine_busy_seconds() -> float | None:
    """CPU seconds every process has run since boot (all cores), or None without /proc."""
    try:
        fields = _PROC_STAT.read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    # cpu user nice system idle iowait irq softirq steal ...
    ticks = [int(value) for value in fields[1:9]]
    busy = sum(ticks) - ticks[3] - ticks[4]
    return busy / _TICKS_PER_SECOND


_default_threads: int | None = None


def default_threads() -> int:
    """torch's thread count as the process started (later calls may have lowered it)."""
    global _default_threads
    if _default_threads is None:
        import torch

        _default_threads = torch.get_num_threads()
    return _default_threads


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


class OthersWindow:
    """How many cores other processes keep busy, over a window that starts at construction
    (or at the last `restart`): the machine's busy time minus this process's own."""

    def __init__(self) -> None:
        self.restart()

    def restart(self) -> None:
        self._mark = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float]:
        return time.monotonic(), machine_busy_seconds() or 0.0, own_cpu_seconds()

    def elapsed(self) -> float:
        return time.monotonic() - self._mark[0]

    def others_busy_cores(self) -> float | None:
        """Over the window so far (None without /proc/stat)."""
        if machine_busy_seconds() is None:
            return None
        now = self._sample()
        elapsed = max(now[0] - self._mark[0], 1e-6)
        others = (now[1] - self._mark[1]) - (now[2] - self._mark[2])
        return max(0.0, others / elapsed)


class ThreadPolicy:
    """The thread count for the next pass: fixed, or fitted to the free cores (`adaptive`)."""

    def __init__(self, max_threads: int, *, adaptive: bool) -> None:
        self.max_threads = max(1, max_threads)
        self.adaptive = adaptive and machine_busy_seconds() is not None
        self.threads = self.max_threads
        self._window = OthersWindow()

    def others_busy_cores(self) -> float | None:
        """Cores other processes kept busy since the last call (None: window too short)."""
        if self._window.elapsed() < MIN_INTERVAL_S:
            return None  # checked first: most passes read no /proc file
        others = self._window.others_busy_cores()
        self._window.restart()
        return others

    def update(self) -> int:
        """Re-measure (at most every MIN_INTERVAL_S) and return the thread count to use."""
        if not self.adaptive:
            return self.threads
        others = self.others_busy_cores()
        if others is not None:
            cores = os.cpu_count() or self.max_threads
            free = int(cores - others + HEADROOM)
            self.threads = max(1, min(self.max_threads, free))
        return self.threads

    def apply(self) -> None:
        """Before a pass: set torch's thread count (in the calling thread) if it changed."""
        import torch

        threads = self.update()
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)


_BUSY_LOOP = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass\n"


class BusyCores:
    """`count` busy-loop processes for the duration of a `with` block (and at most `limit_s`)."""

    def __init__(self, count: int, limit_s: float = 3600.0) -> None:
        self.count = count
        self.limit_s = limit_s
        self._processes: list[subprocess.Popen[bytes]] = []

    @property
    def processes(self) -> list[subprocess.Popen[bytes]]:
        return list(self._processes)

    def __enter__(self) -> BusyCores:
        code = _BUSY_LOOP.format(seconds=self.limit_s)
        for _ in range(self.count):
            self._processes.append(subprocess.Popen([sys.executable, "-c", code]))
        if self.count:
            time.sleep(0.5)  # let them start spinning before anything is timed
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for process in self._processes:
            process.kill()
        for process in self._processes:
            process.wait()
        self._processes.clear()

"""Thread counts that follow the machine's load, and the benchmarks' bounded busy load."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from sdsat_lsp.engine.cpu_load import BusyCores, ThreadPolicy, machine_busy_seconds


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
def test_busy_cores_start_and_stop_their_processes() -> None:
    with BusyCores(2) as load:
        processes = load.processes
        assert len(processes) == 2 and all(p.poll() is None for p in processes)
        before = [cpu_seconds(p.pid) for p in processes]
        time.sleep(0.5)
        # spinning, not sleeping (each gets less than a core on a machine busy with other work)
        assert all(cpu_seconds(p.pid) - b > 0.05 for p, b in zip(processes, before, strict=True))
    assert all(p.poll() is not None for p in processes)


@pytest.mark.skipif(machine_busy_seconds() is None, reason="needs /proc/stat (Linux)")
def test_adaptive_threads_leave_the_busy_cores_to_the_other_processes() -> None:
    cores = os.cpu_count() or 1
    policy = ThreadPolicy(cores, adaptive=True)
    with BusyCores(cores):  # every core busy: one thread is all that can run well
        policy.update()  # starts a window that lies inside the load
        time.sleep(0.6)
        assert policy.update() == 1


def test_fixed_threads_never_change() -> None:
    policy = ThreadPolicy(2, adaptive=False)
    with BusyCores(1):
        time.sleep(0.3)
        assert policy.update() == 2

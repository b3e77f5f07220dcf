"""What one decoder run on one prompt measured, and the peak-memory probe around it.

`Measurement` is the row every runner returns, whatever did the decoding (our engine,
transformers, llama.cpp). Times are wall-clock milliseconds from the call, prefill included:
the same clock for every runner, so ratios between runners are fair. Knows nothing of models.
"""

from __future__ import annotations

import contextlib
import resource
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


@dataclass(frozen=True)
class Measurement:
    runner: str  # "ar", "sdsat k=4", "hf-lookup k=4", "llama.cpp", …
    prompt: str
    tokens: tuple[int, ...]
    total_ms: float
    first_token_ms: float | None  # first streamed text (engine) or first new token (peers)
    forward_passes: int  # passes that decode: prefill counted only where it yields a token
    accepted_per_round: float | None  # drafts accepted per verify round; None: no drafts
    peak_memory_mib: float | None = None  # process RSS high-water mark (CPU) or CUDA peak
    extra_memory_mib: float | None = None  # peak minus the level when the run started
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def new_tokens(self) -> int:
        return len(self.tokens)

    @property
    def tokens_per_second(self) -> float:
        return self.new_tokens / max(self.total_ms / 1000.0, 1e-9)

    @property
    def tokens_per_pass(self) -> float:
        return self.new_tokens / self.forward_passes if self.forward_passes else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["tokens"] = list(self.tokens)
        data["new_tokens"] = self.new_tokens
        data["tokens_per_second"] = round(self.tokens_per_second, 3)
        data["tokens_per_pass"] = round(self.tokens_per_pass, 4)
        return data


def _rss_kib(key: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class PeakMemory:
    """Peak memory over a block: CUDA allocator peak on a GPU, else process RSS high-water.

    On Linux the RSS high-water mark (VmHWM) can be reset by writing 5 to
    /proc/self/clear_refs, so each block gets its own peak; where that fails the lifetime
    peak (`ru_maxrss`) is reported instead, which only grows.
    """

    def __init__(self, device_type: str) -> None:
        self.device_type = device_type
        self.peak_mib: float | None = None
        self.extra_mib: float | None = None

    @contextlib.contextmanager
    def watch(self) -> Iterator[PeakMemory]:
        if self.device_type == "cuda":
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            start = torch.cuda.memory_allocated()
            yield self
            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated()
            self.peak_mib, self.extra_mib = peak / 2**20, (peak - start) / 2**20
            return
        start_kib = _rss_kib("VmRSS")
        try:
            _CLEAR_REFS.write_text("5")
            resettable = True
        except OSError:
            resettable = False
        yield self
        peak_kib = _rss_kib("VmHWM") if resettable else None
        if peak_kib is None:
            peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        self.peak_mib = peak_kib / 1024
        if start_kib is not None:
            self.extra_mib = max(0.0, (peak_kib - start_kib) / 1024)

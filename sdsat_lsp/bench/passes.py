"""What one forward pass costs in each forward configuration, measured in one run.

For each configuration (transformers' eager forward; the static path eager, and compiled with
int8 or int4 weights): the time to prepare it (weights, compile), the median ms of a pass of
1, 1 + k and the tree's rows on top of a cache of `context` tokens, and end-to-end `ar`
decoding (tokens/s) with its greedy output compared with fp32 transformers' (tokens agreed
before the first difference). Ratios are against transformers' eager forward.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from sdsat_lsp.config import Settings
from sdsat_lsp.engine.decoding import Decoder
from sdsat_lsp.engine.engine import Engine
from sdsat_lsp.model import LoadedModel

# name → settings overrides (the Settings fields that choose the forward passes)
CONFIGS: dict[str, dict[str, Any]] = {
    "transformers": {"forward_path": "transformers"},
    "static": {"forward_path": "static", "quantize": "none", "compile": "off"},
    "static-int8-compiled": {"forward_path": "static", "quantize": "int8", "compile": "on"},
    "static-int4-compiled": {"forward_path": "static", "quantize": "int4", "compile": "on"},
}


def measure_passes(
    loaded: LoadedModel,
    prompt_ids: list[int],
    *,
    configs: list[str],
    k: int,
    new_tokens: int,
    repeats: int,
    progress: Callable[[str, dict[str, Any]], None],
) -> dict[str, dict[str, Any]]:
    rows = (1, 1 + k, (1 + k) * (1 + k))
    report: dict[str, dict[str, Any]] = {}
    reference: list[int] | None = None
    for name in configs:
        started = time.perf_counter()
        settings = Settings(strategy="sdsat-tree", k=k, **CONFIGS[name])
        engine = Engine(loaded, settings)
        entry: dict[str, Any] = {
            "prepare_s": round(time.perf_counter() - started, 1),
            "forward": engine.info.forward,
        }
        passes = engine.passes
        decoder = Decoder(passes, cancelled=lambda: False)
        passes.cache.reset()
        decoder.prefill(prompt_ids)
        context = len(passes.cache)
        for count in rows:
            samples = []
            for _ in range(repeats):
                start = time.perf_counter()
                decoder.forward(prompt_ids[:count], keep=count)
                samples.append((time.perf_counter() - start) * 1000)
                passes.cache.crop_to(context)
            entry[f"pass_{count}_ms"] = round(statistics.median(samples), 2)
        generation = engine.generate(
            prompt_ids, max_new_tokens=new_tokens, strategy="ar", reuse_prefix=False
        )
        generation.collect()
        stats = generation.stats
        entry["prefill_ms"] = stats.prefill_ms
        entry["ar_tokens_per_s"] = stats.tokens_per_second
        if reference is None:
            reference = generation.tokens
        pairs = zip(generation.tokens, reference, strict=False)
        same = next(
            (i for i, (a, b) in enumerate(pairs) if a != b),
            min(len(reference), len(generation.tokens)),
        )
        entry["agrees_with_first_for_tokens"] = same
        report[name] = entry
        progress(name, entry)
        del engine, passes, decoder
    base = report[configs[0]]
    for entry in report.values():
        entry["ar_speed_ratio"] = round(entry["ar_tokens_per_s"] / base["ar_tokens_per_s"], 2)
    return report

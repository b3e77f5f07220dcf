"""What one forward pass costs in each forward configuration, measured in one run.

For each configuration (transformers' eager forward; the static path eager, and compiled with
int8 or int4 weights): the time to prepare it (weights, compile), the median ms of a pass of
1, 1 + k and the tree's rows on top of a cache of `context` tokens, and end-to-end `ar`
decoding (tokens/s) with its greedy output compared with the first configuration's (tokens
agreed before the first difference). Ratios are against the first configuration.

Quality (`points`): a quantized configuration is a different model, so on held-out next-line
points (HumanEval canonical solutions, prompts.py) each configuration's first generated line
is scored: exact match with the reference line, the same line as the first configuration's,
and the tokens generated before its output first differs from the first configuration's.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from sdsat_lsp.bench.prompts import NextLinePoint
from sdsat_lsp.config import Settings
from sdsat_lsp.engine.decoding import Decoder
from sdsat_lsp.engine.engine import Engine
from sdsat_lsp.model import LoadedModel

LINE_TOKENS = 32  # enough for one line of code

# name → settings overrides (the Settings fields that choose the forward passes)
CONFIGS: dict[str, dict[str, Any]] = {
    "transformers": {"forward_path": "transformers"},
    "static": {"forward_path": "static", "quantize": "none", "compile": "off"},
    # eager low-bit kernels: slower than fp32 on AVX2-only hosts, faster with AVX-512 BF16
    "static-int8": {"forward_path": "static", "quantize": "int8", "compile": "off"},
    "static-int4": {"forward_path": "static", "quantize": "int4", "compile": "off"},
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
    points: list[NextLinePoint] | None = None,
    threads: int = 0,
) -> dict[str, dict[str, Any]]:
    rows = (1, 1 + k, (1 + k) * (1 + k))
    report: dict[str, dict[str, Any]] = {}
    reference: list[int] | None = None
    first_outputs: list[list[int]] | None = None
    for name in configs:
        started = time.perf_counter()
        settings = Settings(strategy="sdsat-tree", k=k, threads=threads, **CONFIGS[name])
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
        same = common_prefix(generation.tokens, reference)
        entry["agrees_with_first_for_tokens"] = same
        if points:
            outputs = [next_line(engine, point) for point in points]
            first_outputs = first_outputs or outputs
            entry.update(score_lines(engine, points, outputs, first_outputs))
        report[name] = entry
        progress(name, entry)
        del engine, passes, decoder
    base = report[configs[0]]
    for entry in report.values():
        entry["ar_speed_ratio"] = round(entry["ar_tokens_per_s"] / base["ar_tokens_per_s"], 2)
    return report


def next_line(engine: Engine, point: NextLinePoint) -> list[int]:
    """Greedy tokens after the point's prefix, up to the end of the first line."""
    ids = engine.encode_prompt(point.prefix)
    generation = engine.generate(
        ids,
        max_new_tokens=LINE_TOKENS,
        strategy="ar",
        reuse_prefix=False,
        stop=end_of_first_line,
    )
    generation.collect()
    return list(generation.tokens)


def end_of_first_line(text: str) -> int | None:
    """Where the first line with code ends (blank lines before it do not count)."""
    start = len(text) - len(text.lstrip())
    end = text.find("\n", start)
    return end if end >= 0 and text.strip() else None


def first_line(text: str) -> str:
    return text.strip().split("\n")[0].strip()


def score_lines(
    engine: Engine,
    points: list[NextLinePoint],
    outputs: list[list[int]],
    first_outputs: list[list[int]],
) -> dict[str, Any]:
    decode = engine.loaded.tokenizer.decode
    lines = [first_line(decode(tokens)) for tokens in outputs]
    first_lines = [first_line(decode(tokens)) for tokens in first_outputs]
    agreed = [common_prefix(a, b) for a, b in zip(outputs, first_outputs, strict=True)]
    return {
        "points": len(points),
        "next_line_exact_match": round(
            sum(line == point.reference for line, point in zip(lines, points, strict=True))
            / len(points),
            3,
        ),
        "same_line_as_first": round(
            sum(a == b for a, b in zip(lines, first_lines, strict=True)) / len(points), 3
        ),
        "tokens_agreed_with_first_median": statistics.median(agreed),
        # per point, so two runs (another commit, another host) compare paired
        "first_lines": {point.name: line for point, line in zip(points, lines, strict=True)},
    }


def common_prefix(a: list[int], b: list[int]) -> int:
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )

"""Choose and build the forward passes for a loaded model: settings, registry, device.

Each `auto` resolves with a reason that the engine reports in status and logs:
- path: the static path for plain Llama models (llama.py says which), else transformers;
- quantize: on CPU the model's `cpu_quantize`, which may say "measure": the fastest weight
  format on this machine, timed once and remembered (host_choice.py); on GPU none (bf16
  weights; the int4 kernels here are CPU ones);
- compile: on GPU always (CUDA graphs: a pass is launch-bound without them); on CPU the
  model's measured `cpu_compile` (compiling costs a minute or more once, then is cached);
- threads: the model's measured `cpu_threads`, else adaptive: each pass gets as many threads
  as the cores other processes leave free (cpu_load.py; a busy core made 2 threads 20× slower).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from sdsat_lsp.config import QuantizationName, Settings, StrategyName
from sdsat_lsp.engine.cpu_load import ThreadPolicy, default_threads
from sdsat_lsp.engine.forward.llama import UnsupportedModel, check_supported
from sdsat_lsp.engine.forward.passes import ForwardPasses, TransformersPasses
from sdsat_lsp.engine.forward.static_passes import StaticOptions, StaticPasses
from sdsat_lsp.model import LoadedModel

log = logging.getLogger(__name__)

TREE_MARGIN = 64  # cache rows beyond prompt + new tokens: the widest pass's scratch rows


@dataclass(frozen=True)
class ForwardChoice:
    path: str  # static | transformers
    options: StaticOptions | None
    threads: int  # 0: torch's default count
    reason: str
    adaptive_threads: bool = False  # fewer threads while other processes keep cores busy


def pass_rows(strategy: StrategyName, k: int) -> tuple[int, ...]:
    """The row counts of a strategy's decode passes (sat_tree.py for the tree's)."""
    if strategy == "ar":
        return (1,)
    if strategy == "sdsat-tree":
        return (1 + k, (1 + k) * (1 + k))
    return (1, 1 + k)  # sdsat: step 1 and verify; lookup: verify, or ar without drafts


def choose_forward(
    loaded: LoadedModel,
    settings: Settings,
    strategies: Sequence[tuple[StrategyName, int]],
    progress: Callable[[str], None] | None = None,
) -> ForwardChoice:
    spec, device = loaded.spec, loaded.device
    on_gpu = device.type == "cuda"
    reasons = []
    threads = settings.threads or (0 if on_gpu else spec.cpu_threads)
    adaptive = not on_gpu and not threads
    if threads:
        reasons.append(f"{threads} threads" + ("" if settings.threads else " (measured)"))
    elif adaptive:
        reasons.append("threads fit the free cores")
    if settings.forward_path == "transformers":
        if settings.quantize not in ("auto", "none") or settings.compile == "on":
            log.warning("quantize and compile apply to the static path only: ignored")
        return ForwardChoice(
            "transformers", None, threads, "transformers: set in settings", adaptive
        )
    try:
        check_supported(loaded.model.config)
    except UnsupportedModel as error:
        if settings.forward_path == "static":
            log.warning("%s; using transformers' forward", error)
        return ForwardChoice("transformers", None, threads, f"transformers: {error}", adaptive)
    quantize: QuantizationName
    if settings.quantize != "auto":
        quantize = settings.quantize
        if on_gpu and quantize != "none":
            log.warning("quantize=%s is CPU-only here; GPU weights stay %s", quantize, loaded.dtype)
            quantize = "none"
        reasons.append(f"{quantize} weights")
    elif on_gpu or spec.cpu_quantize == "none":
        quantize = "none"
    elif spec.cpu_quantize == "measure":
        from sdsat_lsp.engine.forward.host_choice import cpu_quantization

        choice = cpu_quantization(loaded, threads or default_threads(), progress)
        quantize = choice.quantize
        reasons.append(choice.reason)
    else:
        quantize = spec.cpu_quantize
        reasons.append(f"{quantize} weights (registry)")
    if settings.compile != "auto":
        compile_ = settings.compile == "on"
    else:
        compile_ = on_gpu or spec.cpu_compile
        if compile_:
            reasons.append("compiled (" + ("GPU" if on_gpu else "measured") + ")")
    if quantize != "none" and not compile_ and settings.quantize != "auto":
        log.info("%s weights, eager: slower than fp32 on CPUs without AVX-512 BF16", quantize)
    # 1 always: `ar` is lookup's fallback and any call may ask for it (engine.generate)
    rows = sorted({1} | {r for strategy, k in strategies for r in pass_rows(strategy, k)})
    options = StaticOptions(
        quantize=quantize,
        compile=compile_,
        cuda_graphs=on_gpu and compile_,
        # batched alternatives hold each sample's tokens (engine/batched_sampling.py)
        capacity=settings.context_tokens
        + settings.max_new_tokens * max(1, settings.alternatives)
        + TREE_MARGIN,
        row_shapes=tuple(rows),
    )
    reason = "static: " + (", ".join(reasons) or "fp")
    return ForwardChoice("static", options, threads, reason, adaptive)


def build_passes(
    loaded: LoadedModel, choice: ForwardChoice, progress: Callable[[str], None] | None = None
) -> ForwardPasses:
    policy = None
    if loaded.device.type == "cpu":
        threads = choice.threads or default_threads()
        torch.set_num_threads(threads)
        policy = ThreadPolicy(threads, adaptive=choice.adaptive_threads)
    if choice.options is None:
        return TransformersPasses(loaded.model, loaded.device, threads=policy)
    passes = StaticPasses(loaded.model, loaded.device, loaded.dtype, choice.options, policy)
    if choice.options.compile:
        passes.warm_up(progress)
    return passes

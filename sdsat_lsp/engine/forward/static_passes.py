"""The fast path: fixed decode pass shapes over a preallocated cache, compiled or captured once.

Each strategy's decode passes have a few row counts (ar 1; sdsat and lookup 1 + k; the tree
1 + k + (k+1)·k). A pass with fewer tokens is padded up to the next shape: padding rows come
after the real ones, no real row attends them, and the cache length ignores them, so they
change nothing. Every shape is one straight-line graph (llama.py), so
- on CPU inductor compiles it once per shape (with low-bit weights where measured faster);
  the attended span of the cache (rounded up to SPAN_STEP) and the cache capacity stay
  dynamic sizes, so a pass reads only the rows in use and any capacity reuses it;
- on CUDA each shape is also captured as a CUDA graph over the whole capacity: a pass is one
  launch, not hundreds.
Prefill is never compiled: it runs eager in long chunks with float weights (a compiled chunk
pads, and low-bit kernels lose to float GEMMs at hundreds of rows: measured 1.4 s against
0.37 s for a 300-token prompt). It writes the same cache the decode passes read; every
strategy shares it, so each still equals its configuration's own `ar`.
Shapes are warmed up at load (`warm_up`, with progress), never on a request's path; on CPU
each compiled pass is saved under the user cache (precompiled.py), so a restart loads it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from sdsat_lsp.engine.cpu_load import ThreadPolicy
from sdsat_lsp.engine.forward.llama import LlamaWeights, llama_pass
from sdsat_lsp.engine.forward.precompiled import PrecompiledDecode
from sdsat_lsp.engine.forward.quantize import Quantization
from sdsat_lsp.engine.forward.row_exact import RowExactPass
from sdsat_lsp.engine.kv_cache import StaticKVCache
from sdsat_lsp.engine.pass_layout import PassLayout

log = logging.getLogger(__name__)

PREFILL_CHUNK = 512
CAPACITY_STEP = 256  # cache capacity is a multiple of this (on GPU a growth recaptures shapes)
SPAN_STEP = 64  # compiled CPU passes attend the used cache rows rounded up to this
# inductor's "max-autotune-no-cudagraphs" mode as options (saved passes add a guard filter,
# which torch.compile takes only with options); CUDA graphs are captured here (CapturedPass)
COMPILE_OPTIONS = {"max_autotune": True, "coordinate_descent_tuning": True}


@dataclass(frozen=True)
class StaticOptions:
    quantize: Quantization = "none"
    compile: bool = False
    cuda_graphs: bool = False
    capacity: int = 2048  # cache rows: prompt budget + new tokens + one tree pass
    row_shapes: tuple[int, ...] = (1,)  # decode pass row counts (the strategy's)


def activation_dtype(model_dtype: torch.dtype, device: torch.device, quantize: str) -> torch.dtype:
    """Low-bit CPU kernels take bf16 activations; otherwise the model's dtype."""
    if quantize != "none" and device.type == "cpu":
        return torch.bfloat16
    return model_dtype


def cache_dtype(activations: torch.dtype, device: torch.device) -> torch.dtype:
    """What the KV cache stores. On CPU with bf16 activations: float32, because attention
    there computes in float32 (llama.py) and converting the whole attended cache every layer
    of every pass cost 11-15 % of a 5-row int4 pass (measured in one process, 300 and 800
    cached rows). What is stored are bf16 values, exactly represented (the float prefill
    rounds its keys and values first, as a bf16 cache did): the same numbers as before. On GPU
    the model's dtype: memory is what bounds a 7B's context there."""
    if device.type == "cpu" and activations == torch.bfloat16:
        return torch.float32
    return activations


def inductor_cache_dir() -> str:
    from sdsat_lsp.model.paths import cache_dir

    return str(cache_dir() / "inductor")


class StaticPasses:
    def __init__(
        self,
        model: Any,
        device: torch.device,
        model_dtype: torch.dtype,
        options: StaticOptions,
        threads: ThreadPolicy | None = None,
    ) -> None:
        self.device = device
        self.options = options
        self.threads = threads
        self.fixed_shapes = options.compile or options.cuda_graphs  # decode passes padded
        self.prefill_chunk = PREFILL_CHUNK
        self.dtype = activation_dtype(model_dtype, device, options.quantize)
        # Greedy eager passes attend row by row where that makes them bit-equal to `ar`: on CPU
        # with bf16 activations (row_exact.py; the low-bit linear kernels are row-invariant
        # there, measured; GPU GEMMs are not, so a per-row loop would cost launches, buy nothing)
        self.row_exact = (
            not options.compile and device.type == "cpu" and self.dtype != torch.float32
        )
        self.weights = LlamaWeights.from_model(model, dtype=self.dtype, quantize=options.quantize)
        # Prefill computes with the model's float weights (shared with it, not copied).
        self.prefill_weights = (
            self.weights
            if options.quantize == "none" and self.dtype == model_dtype
            else LlamaWeights.from_model(model, dtype=model_dtype)
        )
        w = self.weights
        layers = len(w.layers)
        capacity = round_up(options.capacity, CAPACITY_STEP)
        self.cache = StaticKVCache(
            layers,
            w.kv_heads,
            w.head_dim,
            capacity,
            cache_dtype(self.dtype, device),
            device,
            keys_transposed=self.row_exact,  # row_exact.py reads them as (kv, head_dim, rows)
        )
        self.row_shapes = sorted(set(options.row_shapes))  # decode passes; prefill has its own
        # Compiled CPU passes are saved whole to the user cache (precompiled.py); CUDA graphs
        # are captured per process from a plainly compiled pass.
        self.precompiled = options.compile and not options.cuda_graphs
        self._decode = self._make_decode()
        self._precompiled: dict[int, PrecompiledDecode] = {}
        self._graphs: dict[int, CapturedPass] = {}
        parts = [f"static cache {capacity}", str(self.dtype).removeprefix("torch.")]
        if options.quantize != "none":
            shortlist = isinstance(self._decode, RowExactPass) and self._decode.shortlist
            head = "int4-shortlist head" if shortlist else "int8 head"
            parts.append(f"{options.quantize} weights, {head}")
        if options.compile:
            parts.append("compiled")
        if options.cuda_graphs:
            parts.append("CUDA graphs")
        self.description = ", ".join(parts)

    def _make_decode(self) -> Callable[..., Any]:
        weights = self.weights
        fused = not self.options.compile  # eager: SDPA and data-dependent skips (llama_pass)
        if self.row_exact:
            return RowExactPass(weights)

        def decode_pass(
            keys: list[torch.Tensor],
            values: list[torch.Tensor],
            input_ids: torch.Tensor,
            positions: torch.Tensor,
            slots: torch.Tensor,
            mask: torch.Tensor,
        ) -> torch.Tensor | None:
            return llama_pass(
                weights,
                keys,
                values,
                input_ids,
                positions,
                slots,
                mask,
                True,
                fused,
            )

        if not self.options.compile:
            return decode_pass
        import torch._dynamo
        import torch._inductor.config
        from torch._inductor.runtime.cache_dir_utils import default_cache_dir

        # Ours unless the user chose one; torch writes its default into the variable the first
        # time anything asks, so "unset" also means "equal to torch's default".
        if os.environ.get("TORCHINDUCTOR_CACHE_DIR") in (None, default_cache_dir()):
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = inductor_cache_dir()

        # One graph per row shape (and cache tensors: a growth adds a set); without this, a
        # new row count would make the rows dimension dynamic.
        torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 64)
        torch._dynamo.config.automatic_dynamic_shapes = False
        if self.threads is not None and self.threads.adaptive:
            torch._inductor.config.cpp.dynamic_threads = True  # kernels follow set_num_threads
        if self.precompiled:
            return decode_pass  # not called: each row count has a PrecompiledDecode
        return torch.compile(decode_pass, options=dict(COMPILE_OPTIONS), fullgraph=True)

    # --- the ForwardPasses verbs --------------------------------------------------------------

    def run(self, token_ids: Sequence[int], keep: int, tree: PassLayout | None = None) -> list[int]:
        predictions = self._pass(token_ids, tree, with_logits=True)
        assert isinstance(predictions, list)
        return predictions[len(token_ids) - keep : len(token_ids)]

    def fill(self, token_ids: Sequence[int]) -> None:
        self._pass(token_ids, None, with_logits=False)

    def run_logits(
        self, token_ids: Sequence[int], keep: int, tree: PassLayout | None = None
    ) -> torch.Tensor:
        """Sampling passes run eager with the decode weights (SDPA, exact row count) in every
        configuration: a compiled or captured shape returns only argmax ids, and compiling a
        logits variant would happen on a request's path. Where greedy passes are row-exact,
        logits come from the same pass (the indentation constraint's steps: lead.py)."""
        logits = self._pass(token_ids, tree, with_logits=True, raw_logits=True)
        assert isinstance(logits, torch.Tensor)
        return logits[len(token_ids) - keep : len(token_ids)].float().cpu()

    def warm_up(self, progress: Callable[[str], None] | None = None) -> None:
        """Run every decode pass shape once on an empty cache so compilation happens now.
        Always at the full thread count: inductor's cache key includes it, and a restart on a
        busier machine must still find the compiled code."""
        if self.threads is not None:
            torch.set_num_threads(self.threads.max_threads)
        for index, rows in enumerate(self.row_shapes, 1):
            if progress:
                progress(f"preparing the pass of {rows} tokens ({index}/{len(self.row_shapes)})")
            self._pass([0] * rows, None, with_logits=True, adapt_threads=False)
            self.cache.reset()

    # --- one pass -----------------------------------------------------------------------------

    def _pass(
        self,
        token_ids: Sequence[int],
        tree: PassLayout | None,
        with_logits: bool,
        adapt_threads: bool = True,
        raw_logits: bool = False,
    ) -> list[int] | torch.Tensor | None:
        if self.threads is not None and adapt_threads:
            self.threads.apply()
        count = len(token_ids)
        # prefill and sampling passes are always eager
        compiled = self.fixed_shapes and with_logits and not raw_logits
        rows = self._rows_for(count) if compiled else count  # compiled shapes: pad up to one
        past = len(self.cache)
        if past + rows > self.cache.capacity:
            self._grow(past + rows)
        capacity = self.cache.capacity
        if not compiled:
            span = past + rows
        elif self.options.cuda_graphs:
            span = capacity  # one captured graph per row count
        else:
            span = min(capacity, round_up(past + rows, SPAN_STEP))
        ids = [*token_ids, *[0] * (rows - count)]
        at = tree.positions(past) if tree is not None else list(range(past, past + count))
        at += range(past + count, past + rows)  # padding: anywhere, nothing reads it
        mask = torch.zeros(rows, span, dtype=torch.bool)
        mask[:, :past] = True
        mask[:, past : past + rows] = torch.ones(rows, rows, dtype=torch.bool).tril()
        if tree is not None:
            mask[:count, : past + count] = tree.visible(past)
        host = (
            torch.tensor(ids, dtype=torch.long),
            torch.tensor(at, dtype=torch.long),
            torch.arange(past, past + rows, dtype=torch.long),
            mask,
        )
        ids_in, positions, slots, mask_in = (t.to(self.device, non_blocking=True) for t in host)
        inputs = (ids_in, positions, slots, mask_in)
        keys, values = self.cache.keys, self.cache.values
        if compiled and self.precompiled:
            # no_grad, not inference_mode: a saved pass guards on its inputs' dispatch keys,
            # and tensors made under inference mode have other keys than the ones made outside
            with torch.no_grad():
                out = self._precompiled_pass(rows, inputs)(keys, values, *inputs)
        else:
            with torch.inference_mode():
                if raw_logits and isinstance(self._decode, RowExactPass):
                    out = self._decode.logits(keys, values, *inputs)  # the greedy passes' numbers
                elif raw_logits:
                    out = llama_pass(
                        self.weights, keys, values, *inputs, fused_attention=True, raw_logits=True
                    )
                elif not with_logits:
                    w = self.prefill_weights
                    out = llama_pass(
                        w,
                        keys,
                        values,
                        *inputs,
                        with_logits=False,
                        fused_attention=True,
                        written_precision=self.dtype,
                    )
                elif self.options.cuda_graphs:
                    out = self._captured(rows)(*inputs)
                else:
                    out = self._decode(keys, values, *inputs)
        self.cache.extended_by(token_ids)
        if raw_logits:
            return out
        return None if out is None else out[:count].tolist()

    def _rows_for(self, count: int) -> int:
        for rows in self.row_shapes:
            if rows >= count:
                return rows
        log.warning("a pass of %d tokens has no prepared shape: compiling one now", count)
        self.row_shapes = sorted({*self.row_shapes, count})
        return count

    def _grow(self, needed: int) -> None:
        capacity = round_up(needed + needed // 2, CAPACITY_STEP)
        log.warning(
            "KV cache full (%d rows): growing to %d; passes recompile once",
            self.cache.capacity,
            capacity,
        )
        self.cache = self.cache.grown_to(capacity)
        self._graphs.clear()
        self._precompiled.clear()

    def _precompiled_pass(self, rows: int, example: tuple[torch.Tensor, ...]) -> PrecompiledDecode:
        if rows not in self._precompiled:
            cache = (self.cache.keys, self.cache.values)
            decode = PrecompiledDecode(self.weights, cache, rows, COMPILE_OPTIONS)
            ids, positions, slots, mask = example
            decode.prepare((ids, positions, slots, mask), cache)
            self._precompiled[rows] = decode
        return self._precompiled[rows]

    def _captured(self, rows: int) -> CapturedPass:
        if rows not in self._graphs:
            self._graphs[rows] = CapturedPass(self._decode, self.cache, rows, self.device)
        return self._graphs[rows]


class CapturedPass:
    """One pass shape as a CUDA graph: inputs are copied into static buffers, then one replay."""

    def __init__(
        self, fn: Callable[..., Any], cache: StaticKVCache, rows: int, device: torch.device
    ) -> None:
        # Warm-up and capture write the last `rows` cache rows, free unless the cache is full,
        # and each row attends only itself there, so what they write stays finite.
        capacity = cache.capacity
        self.ids = torch.zeros(rows, dtype=torch.long, device=device)
        self.positions = torch.zeros(rows, dtype=torch.long, device=device)
        self.slots = torch.arange(capacity - rows, capacity, dtype=torch.long, device=device)
        self.mask = torch.zeros(rows, capacity, dtype=torch.bool, device=device)
        self.mask[torch.arange(rows), self.slots] = True
        args = (cache.keys, cache.values, self.ids, self.positions, self.slots, self.mask)
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):  # warm-up outside the graph (allocations, autotune)
            for _ in range(2):
                fn(*args)
        torch.cuda.current_stream().wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.out = fn(*args)

    def __call__(
        self, ids: torch.Tensor, positions: torch.Tensor, slots: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor | None:
        self.ids.copy_(ids)
        self.positions.copy_(positions)
        self.slots.copy_(slots)
        self.mask.copy_(mask)
        self.graph.replay()
        return self.out


def round_up(value: int, step: int) -> int:
    return -(-value // step) * step

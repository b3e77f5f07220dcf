"""The greedy eager pass on CPU with bf16 activations (the low-bit configurations): every row of
a pass computes with the bits of the 1-row pass `ar` runs at its position, in few torch calls.

Why rows alone: a matmul over all rows at once is not row-invariant (BLAS picks its kernel and
its blocking by the row count and the attended length: measured, no row of a 5-row float32
batch equal to its 1-row result, and past ~380 cached rows zero weights on masked rows still
move the rounding), and with bf16 activations such last-bit differences flip near-ties, so
drafting strategies left `ar` (tests/engine/test_lowbit_lossless.py has those prompts). The
low-bit linear kernels and layer_norm are row-invariant (measured; tests/engine/test_row_exact.py),
so attention is the one step done row by row, over exactly the cache rows the row sees.

Why few calls: on these CPUs a torch call costs 3–6 µs whatever its size, and a 1-row pass of
the default model made ~1,900 of them, more time than its matmuls. So, against `llama_pass`:
- RMS norm is one `layer_norm` of [x, −x] (mean 0, variance mean(x²)), weight inside;
- the rotary embedding is `roll` + `addcmul`, rotate-half's sign and (for the query heads)
  attention's scale folded into the per-pass cos/sin;
- keys and values go into the cache by a slice copy that converts the dtype on the way; keys
  are stored transposed (kv_cache.py `keys_transposed`), so the scores `bmm` reads a row-major
  slice; each kernel is called without wrappers.
The greedy pick on int4 weights is exact over an int4 shortlist (`ShortlistArgmax`), cheaper
than the int8 head and nearer the float32 head's argmax.
The bits differ from `llama_pass`'s (fewer roundings), the same in every strategy: a
configuration's outputs are its own, and every strategy still equals its `ar`. Measured
(docs/benchmarks.md, 2026-12-02): a 1-row pass 1.22–1.23× cheaper than with `llama_pass`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from sdsat_lsp.engine.forward.llama import (
    INPUT_SHARING,
    LayerWeights,
    LlamaWeights,
    cpu_argmax,
    embed,
    project,
)
from sdsat_lsp.engine.forward.quantize import INT4_GROUP, quantize_linear

Kernel = Callable[[torch.Tensor], torch.Tensor]

SHORTLIST_ROWS = 16  # measured on held-out code: 16 int4 candidates always held the argmax


class ShortlistArgmax:
    """The greedy token of each row from an int4 shortlist rescored exactly, for passes on
    int4 weights: the int4 head (groups of 32) names its top SHORTLIST_ROWS tokens, and their
    unquantized rows score them again. Measured (docs/benchmarks.md, 2026-12-02): on 2,872
    held-out positions the shortlist's pick equals the float32 head's argmax every time (the
    int8 head's: 97.4 %, the int4 head's alone: 88.9 %), at ~0.6× the int8 head's time.
    Row-invariant like the rest of the pass: the int4 kernel is, and the rescoring multiplies
    bf16 values in float64 (exact products) with a sum per row."""

    def __init__(self, head_rows: torch.Tensor) -> None:
        self.rows = head_rows
        self.vocab = head_rows.shape[0]
        # torch's int4 packing wants rows in multiples of 16: other vocabularies get zero
        # rows, never candidates (the scores are cut to the vocabulary before the top-k)
        padded = F.pad(head_rows.float(), (0, 0, 0, -self.vocab % 16))
        self.int4 = quantize_linear(padded, "int4", head_rows.dtype).bound()

    @staticmethod
    def supports(head_rows: torch.Tensor) -> bool:
        vocab, hidden = head_rows.shape
        return (
            head_rows.device.type == "cpu" and hidden % INT4_GROUP == 0 and vocab > SHORTLIST_ROWS
        )

    def __call__(self, hidden: torch.Tensor) -> torch.Tensor:  # (q, hidden) -> ids (q,)
        scores = self.int4(hidden)[:, : self.vocab]
        shortlist = scores.topk(SHORTLIST_ROWS, dim=-1).indices  # (q, rows)
        exact = (self.rows[shortlist].double() * hidden[:, None, :].double()).sum(-1)
        return shortlist.gather(1, exact.argmax(-1, keepdim=True))[:, 0]


@dataclass(frozen=True)
class RowReads:
    """The cache rows one pass row attends to: the first `count` (a causal row), or `index`
    (a tree row, whose ancestors are not contiguous), always in cache order."""

    count: int
    index: torch.Tensor | None


def visible_rows(mask: torch.Tensor) -> list[RowReads]:
    """Per pass row, what it reads (computed once per pass, not per layer)."""
    counts = mask.sum(dim=1)
    # the first n entries are all visible iff the running count at n - 1 is n
    prefix = mask.cumsum(dim=1).gather(1, (counts - 1).clamp(min=0)[:, None])[:, 0] == counts
    reads = []
    for row, (count, is_prefix) in enumerate(zip(counts.tolist(), prefix.tolist(), strict=True)):
        index = None if is_prefix else mask[row].nonzero()[:, 0]
        reads.append(RowReads(count, index))
    return reads


def attend_rows(
    queries: torch.Tensor,  # (q, heads, head_dim), scaled by head_dim ** -0.5 already
    keys: torch.Tensor,  # (kv_heads, capacity, head_dim) float32
    values: torch.Tensor,
    reads: list[RowReads],
) -> torch.Tensor:
    """Attention (q, heads · head_dim) float32, each row on its own over exactly the cache rows
    it sees, gathered in cache order: the shapes and numbers of the 1-row pass at that position.
    Grouped-query: the query heads of one KV head are one (group, head_dim) matrix."""
    heads, head_dim = queries.shape[1], queries.shape[2]
    kv_heads = keys.shape[0]
    group = heads // kv_heads
    out = []
    for row, read in enumerate(reads):
        if read.index is None:
            row_keys, row_values = keys[:, : read.count], values[:, : read.count]
        else:
            row_keys = keys.index_select(1, read.index)
            row_values = values.index_select(1, read.index)
        grouped = queries[row].reshape(kv_heads, group, head_dim).float()
        scores = torch.bmm(grouped, row_keys.transpose(1, 2))  # (kv_heads, group, rows)
        out.append(torch.bmm(torch.softmax(scores, dim=-1), row_values).view(1, heads * head_dim))
    return out[0] if len(out) == 1 else torch.cat(out)


@dataclass(frozen=True)
class RowLayer:
    """One decoder layer's weights as this pass calls them."""

    weights: LayerWeights
    input_norm: torch.Tensor  # (2 · hidden,): the norm weight twice, for [x, −x]
    post_attention_norm: torch.Tensor
    qkv: Kernel | None  # q/k/v stored as one matmul (None: separate, project() runs them)
    o_proj: Kernel
    gate_up: Kernel | None  # gate/up as one matmul, split by `gate_up_sizes`
    gate_up_sizes: tuple[int, ...]
    down: Kernel


def doubled(weight: torch.Tensor) -> torch.Tensor:
    return torch.cat([weight, weight])


def rms_norm(x: torch.Tensor, doubled_weight: torch.Tensor, eps: float) -> torch.Tensor:
    """RMS norm as one layer_norm: [x, −x] has mean 0 and variance mean(x²). Normalized and
    scaled in float32, rounded once to x's dtype; contiguous, as the low-bit kernels need."""
    hidden = x.shape[-1]
    both = F.layer_norm(torch.cat([x, x.neg()], -1), (2 * hidden,), doubled_weight, None, eps)
    half = both[:, :hidden]
    return half if x.shape[0] == 1 else half.contiguous()


class RowExactPass:
    """`decode_pass(keys, values, input_ids, positions, slots, mask)` → argmax ids (q,), as
    `llama_pass` takes them (static_passes.py): slots are consecutive cache rows."""

    def __init__(self, w: LlamaWeights) -> None:
        self.w = w
        self.layers = [self._layer(layer) for layer in w.layers]
        self.final_norm = doubled(w.final_norm)
        self.lm_head = w.lm_head.bound()
        # the greedy pick: exact over an int4 shortlist where the layers run int4 (there the
        # int4 kernel is what this host runs fastest); else the argmax of the head's logits
        int4_layers = w.layers[0].linears["o_proj"].linear.kind == "int4"
        self.shortlist = (
            ShortlistArgmax(w.head_rows)
            if int4_layers and w.head_rows is not None and ShortlistArgmax.supports(w.head_rows)
            else None
        )
        # attention's scale on the query heads' rotation, 1 on the key heads' (_rotation)
        scale = w.head_dim**-0.5
        self.head_scale = torch.cat([torch.full((w.heads,), scale), torch.ones(w.kv_heads)])[
            :, None
        ]

    @staticmethod
    def _layer(layer: LayerWeights) -> RowLayer:
        def fused(names: tuple[str, ...]) -> Kernel | None:
            group = layer.linears[names[0]]
            return group.linear.bound() if group.names == names else None

        return RowLayer(
            layer,
            doubled(layer.input_norm),
            doubled(layer.post_attention_norm),
            qkv=fused(INPUT_SHARING[0]),
            o_proj=layer.linears["o_proj"].linear.bound(),
            gate_up=fused(INPUT_SHARING[2]),
            gate_up_sizes=layer.linears["gate_proj"].sizes,
            down=layer.linears["down_proj"].linear.bound(),
        )

    def __call__(self, *inputs: Any) -> torch.Tensor:
        """The greedy id of every row (q,); `inputs` as `logits` takes them."""
        normed = self.normed_output(*inputs)
        if self.shortlist is not None:
            return self.shortlist(normed)
        return cpu_argmax(self.lm_head(normed))

    def logits(self, *inputs: Any) -> torch.Tensor:
        """The head's logits (q, vocab) (sampling passes); `inputs` as `normed_output`."""
        return self.lm_head(self.normed_output(*inputs))

    def normed_output(
        self,
        keys: list[torch.Tensor],  # per layer (kv_heads, C, head_dim) float32
        values: list[torch.Tensor],
        input_ids: torch.Tensor,
        positions: torch.Tensor,
        slots: torch.Tensor,
        mask: torch.Tensor,
    ) -> torch.Tensor:
        w = self.w
        q, heads, kv_heads, head_dim = input_ids.shape[0], w.heads, w.kv_heads, w.head_dim
        first = int(slots[0])
        # the adapter acts only when a row is a SAT (ar and verify rows are not)
        x, is_sat = embed(w, input_ids, always_select=False)
        cos, sin = self._rotation(positions)
        reads = visible_rows(mask)
        for index, layer in enumerate(self.layers):
            h = rms_norm(x, layer.input_norm, w.eps)
            if layer.qkv is not None and is_sat is None:
                fused = layer.qkv(h).view(q, heads + 2 * kv_heads, head_dim)
            else:
                parts = project(layer.weights, INPUT_SHARING[0], h, is_sat)
                fused = torch.cat(parts, dim=-1).view(q, heads + 2 * kv_heads, head_dim)
            query_key, value = fused.split((heads + kv_heads, kv_heads), dim=1)
            query_key = torch.addcmul(query_key * cos, query_key.roll(head_dim // 2, -1), sin)
            query, key = query_key.split((heads, kv_heads), dim=1)
            keys[index][:, first : first + q] = key.transpose(0, 1)
            values[index][:, first : first + q] = value.transpose(0, 1)
            attended = attend_rows(query, keys[index], values[index], reads)
            if is_sat is None:
                x = x + layer.o_proj(attended.to(w.dtype))
                h = rms_norm(x, layer.post_attention_norm, w.eps)
                x = x + self._mlp(layer, h)
            else:
                [out] = project(layer.weights, ("o_proj",), attended.to(w.dtype), is_sat)
                x = x + out
                h = rms_norm(x, layer.post_attention_norm, w.eps)
                gate, up = project(layer.weights, INPUT_SHARING[2], h, is_sat)
                [down] = project(layer.weights, ("down_proj",), F.silu(gate) * up, is_sat)
                x = x + down
        return rms_norm(x, self.final_norm, w.eps)

    def _rotation(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin' (q, heads + kv_heads, head_dim) such that rotate(v) = v·cos +
        roll(v, head_dim / 2)·sin': sin' = [−sin, sin] carries rotate-half's sign. The query
        heads' rows are scaled by head_dim ** -0.5 too (attention's scale, one op less per row)."""
        w = self.w
        freqs = positions.float()[:, None] * w.inv_freq[None, :]
        cos, sin = freqs.cos(), freqs.sin()
        cos, sin = torch.cat([cos, cos], dim=-1)[:, None], torch.cat([-sin, sin], dim=-1)[:, None]
        return (cos * self.head_scale).to(w.dtype), (sin * self.head_scale).to(w.dtype)

    @staticmethod
    def _mlp(layer: RowLayer, h: torch.Tensor) -> torch.Tensor:
        if layer.gate_up is None:
            gate, up = project(layer.weights, INPUT_SHARING[2], h, None)
        else:
            gate, up = layer.gate_up(h).split(layer.gate_up_sizes, dim=-1)
        return layer.down(F.silu(gate) * up)

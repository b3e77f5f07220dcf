"""A Llama forward pass as plain tensor code over a static KV cache: the fast path's model.

`LlamaWeights.from_model` reads the weights out of a loaded transformers Llama (with its SAT
adapter, if one is attached) once; `llama_pass` runs one pass of q tokens. Why not
transformers' own forward: its dynamic cache concatenates every pass, its Python between ops
costs ~11 ms a pass on CPU, and its hooks-based SAT adapter has data-dependent branches that
a compiler cannot capture. Here every pass is one straight-line graph of fixed shapes that
inductor compiles and CUDA graphs capture.

Pass inputs (q = the pass's rows, C = cache capacity):
  input_ids (q,)   positions (q,) rotary positions   slots (q,) cache rows to write
  mask (q, span) bool: row i may attend cache row j < span (the cache before the pass and
  this pass's own rows, as the strategy's causal or tree mask says); compiled passes use
  span = C (one shape), eager ones only the rows in use
The SAT adapter acts only on rows whose input id is the SAT id: the trained SAT embedding
replaces the looked-up one, and each adapted projection adds its LoRA delta there, selected
with `torch.where`, so ordinary rows compute exactly as the base model's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from sdsat_lsp.engine.forward.quantize import Quantization, QuantizedLinear, quantize_linear
from sdsat_lsp.model.sat_adapter import LLAMA_PROJECTIONS, attached_adapter

ATTENTION_PROJECTIONS = frozenset({"q_proj", "k_proj", "v_proj", "o_proj"})


class UnsupportedModel(ValueError):
    """The static path does not implement this architecture; transformers' forward runs it."""


def cpu_argmax(logits: torch.Tensor) -> torch.Tensor:
    """Each row's argmax on CPU (eager passes): numpy's argmax is vectorized, torch's over a
    bf16 vocabulary row is not (49k logits: 40 against 270 µs a row). The same index: bf16 →
    float32 is exact, and both return the first maximum."""
    return torch.from_numpy(logits.float().numpy().argmax(axis=-1))


@dataclass(frozen=True)
class LoraPair:
    a: torch.Tensor  # (rank, in)
    b: torch.Tensor  # (out, rank), scale folded in

    def __call__(self, x: torch.Tensor) -> torch.Tensor:  # (n, in) -> (n, out)
        return (x @ self.a.T) @ self.b.T


@dataclass(frozen=True)
class LinearGroup:
    """Projections that read the same input, as one matmul whose output columns are theirs in
    `names` order (`sizes` wide). Converted weights are stored fused (q/k/v; gate/up): one
    kernel call instead of three or two, 1 ms of a 25 ms int4 pass here, with the same bits
    (each output column depends only on its own weights; checked in tests/engine). Float
    weights stay one group per projection: they are the model's own tensors, not copies."""

    names: tuple[str, ...]
    sizes: tuple[int, ...]
    linear: QuantizedLinear


# the projections that read one input, in the order a layer computes them
INPUT_SHARING = (
    ("q_proj", "k_proj", "v_proj"),
    ("o_proj",),
    ("gate_proj", "up_proj"),
    ("down_proj",),
)


@dataclass(frozen=True)
class LayerWeights:
    input_norm: torch.Tensor
    post_attention_norm: torch.Tensor
    linears: dict[str, LinearGroup]  # by projection name (fused members share one group)
    lora: dict[str, LoraPair]  # SAT rows only


@dataclass(frozen=True)
class LlamaWeights:
    layers: list[LayerWeights]
    embedding: torch.Tensor  # (vocab, hidden), activation dtype
    final_norm: torch.Tensor
    lm_head: QuantizedLinear
    inv_freq: torch.Tensor  # (head_dim / 2,) float32
    heads: int
    kv_heads: int
    head_dim: int
    eps: float
    dtype: torch.dtype  # activations
    sat_id: int  # -1: no SAT adapter
    sat_embedding: torch.Tensor | None
    # the output layer's weights unquantized, in the activation dtype (the embedding itself
    # when tied): row_exact.ShortlistArgmax rescores its shortlist with them
    head_rows: torch.Tensor | None = None

    @property
    def hidden_size(self) -> int:
        return int(self.embedding.shape[1])

    @classmethod
    def from_model(
        cls,
        model: Any,
        *,
        dtype: torch.dtype,
        quantize: Quantization = "none",
        quantize_head: Quantization | None = None,
    ) -> LlamaWeights:
        """Read a transformers Llama's weights; `quantize` the decoder layers' projections and
        `quantize_head` (default: int8 when quantizing) the output layer. Float weights are
        shared with `model`, not copied, when no conversion is needed."""
        config = model.config
        check_supported(config)
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // (
            config.num_attention_heads
        )
        theta = rope_theta(config)
        inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        attached = attached_adapter(model)
        lora_modules = dict(attached.adapter.lora.items()) if attached else {}
        # converted weights are copies anyway, so they are stored fused (`LinearGroup`)
        converted = quantize != "none" or dtype != model.model.embed_tokens.weight.dtype
        layers = []
        for index, layer in enumerate(model.model.layers):
            linears: dict[str, LinearGroup] = {}
            lora: dict[str, LoraPair] = {}
            weights = {
                name: getattr(getattr(layer, section_of(name)), name).weight
                for name in LLAMA_PROJECTIONS
            }
            for names in INPUT_SHARING if converted else [(n,) for n in LLAMA_PROJECTIONS]:
                parts = [weights[name] for name in names]
                fused = parts[0] if len(parts) == 1 else torch.cat(parts).detach()
                sizes = tuple(int(part.shape[0]) for part in parts)
                group = LinearGroup(names, sizes, quantize_linear(fused, quantize, dtype))
                linears.update(dict.fromkeys(names, group))
            for name in LLAMA_PROJECTIONS:
                section = section_of(name)
                pair: Any = lora_modules.get(f"model/layers/{index}/{section}/{name}")
                if pair is not None:
                    lora[name] = LoraPair(
                        pair.lora_a.detach().to(dtype),
                        (pair.lora_b.detach() * pair.scale).to(dtype),
                    )
            layers.append(
                LayerWeights(
                    input_norm=layer.input_layernorm.weight.detach().to(dtype),
                    post_attention_norm=layer.post_attention_layernorm.weight.detach().to(dtype),
                    linears=linears,
                    lora=lora,
                )
            )
        head_format = (
            quantize_head
            if quantize_head is not None
            else ("int8" if quantize != "none" else "none")
        )
        embedding = model.get_input_embeddings().weight.detach()
        head = model.get_output_embeddings().weight.detach()
        embedding_rows = embedding.to(dtype)
        tied = head.data_ptr() == embedding.data_ptr()
        return cls(
            layers=layers,
            embedding=embedding_rows,
            final_norm=model.model.norm.weight.detach().to(dtype),
            lm_head=quantize_linear(head, head_format, dtype),
            inv_freq=inv_freq.to(embedding.device),
            heads=config.num_attention_heads,
            kv_heads=config.num_key_value_heads,
            head_dim=head_dim,
            eps=float(config.rms_norm_eps),
            dtype=dtype,
            sat_id=attached.adapter.sat_id if attached else -1,
            sat_embedding=attached.adapter.sat_embedding.detach().to(dtype) if attached else None,
            head_rows=embedding_rows if tied else head.to(dtype),
        )


def section_of(name: str) -> str:
    return "self_attn" if name in ATTENTION_PROJECTIONS else "mlp"


def rope_theta(config: Any) -> float:
    parameters = getattr(config, "rope_parameters", None) or {}
    return float(parameters.get("rope_theta", getattr(config, "rope_theta", 10000.0)))


def check_supported(config: Any) -> None:
    """Plain Llama: SiLU MLP, no biases, default RoPE (CodeLlama, SmolLM2, TinyLlama, ...)."""
    problems = []
    if getattr(config, "model_type", "") != "llama":
        problems.append(f"model_type {getattr(config, 'model_type', '?')!r}")
    if getattr(config, "attention_bias", False) or getattr(config, "mlp_bias", False):
        problems.append("biases")
    if getattr(config, "hidden_act", "silu") != "silu":
        problems.append(f"activation {config.hidden_act}")
    parameters = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None)
    rope_type = (parameters or {}).get("rope_type", "default")
    if rope_type != "default":
        problems.append(f"rope {rope_type}")
    if problems:
        raise UnsupportedModel("static forward path: unsupported " + ", ".join(problems))


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """As transformers' LlamaRMSNorm: normalise in float32, scale in the activation dtype.
    `torch.rms_norm` runs the same ops (pow, mean, add, rsqrt, mul: the same bits) from C++,
    without five Python-level calls; a pass runs this twice per layer."""
    return weight * torch.rms_norm(x.float(), x.shape[-1:], eps=eps).to(x.dtype)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


def project(
    layer: LayerWeights, names: tuple[str, ...], x: torch.Tensor, is_sat: torch.Tensor | None
) -> list[torch.Tensor]:
    """The projections `names` of `x` (they share it), one kernel call per stored group."""
    outputs: dict[str, torch.Tensor] = {}
    for name in names:
        if name in outputs:
            continue
        group = layer.linears[name]
        out = group.linear(x)
        parts = out.split(group.sizes, dim=-1) if len(group.sizes) > 1 else (out,)
        outputs.update(zip(group.names, parts, strict=True))
    return [with_lora(layer, name, outputs[name], x, is_sat) for name in names]


def with_lora(
    layer: LayerWeights, name: str, out: torch.Tensor, x: torch.Tensor, is_sat: torch.Tensor | None
) -> torch.Tensor:
    pair = layer.lora.get(name)
    if pair is None or is_sat is None:
        return out
    return torch.where(is_sat[:, None], out + pair(x).to(out.dtype), out)


def attention_inputs(
    w: LlamaWeights,
    layer: LayerWeights,
    h: torch.Tensor,
    is_sat: torch.Tensor | None,
    cos: torch.Tensor,
    sin: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Query (heads, q, head_dim), key and value (kv_heads, q, head_dim), rotated. When q/k/v
    are one stored matmul and no adapter acts, query and key rotate as one tensor: one set of
    elementwise ops instead of two per layer, the same bits (each element computes alike)."""
    q, heads, kv_heads, head_dim = h.shape[0], w.heads, w.kv_heads, w.head_dim
    group = layer.linears["q_proj"]
    if is_sat is None and group.names == INPUT_SHARING[0]:
        out = group.linear(h).view(q, heads + 2 * kv_heads, head_dim)
        rotated = rotate(out[:, : heads + kv_heads], cos[:, None], sin[:, None])
        return (
            rotated[:, :heads].transpose(0, 1),
            rotated[:, heads:].transpose(0, 1),
            out[:, heads + kv_heads :].transpose(0, 1),
        )
    query, key, value = project(layer, INPUT_SHARING[0], h, is_sat)
    query = query.reshape(q, heads, head_dim).transpose(0, 1)
    key = key.reshape(q, kv_heads, head_dim).transpose(0, 1)
    value = value.reshape(q, kv_heads, head_dim).transpose(0, 1)
    return rotate(query, cos, sin), rotate(key, cos, sin), value


def output(
    layer: LayerWeights, attended: torch.Tensor, is_sat: torch.Tensor | None
) -> torch.Tensor:
    [out] = project(layer, ("o_proj",), attended, is_sat)
    return out


def mlp(layer: LayerWeights, h: torch.Tensor, is_sat: torch.Tensor | None) -> torch.Tensor:
    gate, up = project(layer, ("gate_proj", "up_proj"), h, is_sat)
    [down] = project(layer, ("down_proj",), F.silu(gate) * up, is_sat)
    return down


def embed(
    w: LlamaWeights, input_ids: torch.Tensor, always_select: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The input rows (q, hidden), and which are SAT rows (None when the adapter does not act:
    no adapter, or no SAT row and not `always_select`). A SAT row takes the trained SAT
    embedding (its id may lie past the vocabulary)."""
    if w.sat_embedding is None or not (always_select or bool((input_ids == w.sat_id).any())):
        return w.embedding[input_ids], None
    is_sat = input_ids == w.sat_id
    x = w.embedding[input_ids.clamp(max=w.embedding.shape[0] - 1)]
    return torch.where(is_sat[:, None], w.sat_embedding.to(x.dtype), x), is_sat


def llama_pass(
    w: LlamaWeights,
    keys: list[torch.Tensor],  # per layer (kv_heads, C, head_dim), written at `slots`
    values: list[torch.Tensor],
    input_ids: torch.Tensor,  # (q,)
    positions: torch.Tensor,  # (q,)
    slots: torch.Tensor,  # (q,)
    mask: torch.Tensor,  # (q, span) bool, span ≤ C: attention reads the first span cache rows
    with_logits: bool = True,
    fused_attention: bool = False,
    raw_logits: bool = False,
    written_precision: torch.dtype | None = None,
) -> torch.Tensor | None:
    """One forward pass; returns the argmax token at every row (q,), or None without logits,
    or with `raw_logits` (eager sampling passes) the logits (q, vocab).
    `fused_attention` (eager passes): torch's SDPA kernel for float32 activations, and the
    adapter skipped when no row is a SAT; else (compiled) plain matmuls and softmax, which
    inductor fuses better than it compiles SDPA on CPU (measured: 2× on the pass), and no
    data-dependent branch. Greedy eager passes on CPU with bf16 activations run
    row_exact.RowExactPass instead (every row with its `ar` pass's bits); sampling passes here
    do without (a sample's distribution does not depend on last bits).
    `written_precision`: keys and values are rounded to it before the cache stores them (a
    float prefill writes what the configuration's bf16 decode passes would)."""
    q = input_ids.shape[0]
    heads, kv_heads, head_dim = w.heads, w.kv_heads, w.head_dim
    group = heads // kv_heads
    # Eager passes skip the adapter when no row is a SAT (prefill, ar, verify); a compiled
    # graph cannot branch on data, so it always selects with `torch.where`.
    x, is_sat = embed(w, input_ids, always_select=not fused_attention)
    freqs = positions.float()[:, None] * w.inv_freq[None, :]
    angles = torch.cat([freqs, freqs], dim=-1)
    cos, sin = angles.cos().to(w.dtype), angles.sin().to(w.dtype)
    blocked = ~mask  # (q, span)
    span = mask.shape[1]
    scale = head_dim**-0.5
    for index, layer in enumerate(w.layers):
        h = rms_norm(x, layer.input_norm, w.eps)
        query, key, value = attention_inputs(w, layer, h, is_sat, cos, sin)
        if written_precision is not None:
            key, value = key.to(written_precision), value.to(written_precision)
        keys[index].index_copy_(1, slots, key.to(keys[index].dtype))
        values[index].index_copy_(1, slots, value.to(values[index].dtype))
        cached_keys, cached_values = keys[index][:, :span], values[index][:, :span]
        if fused_attention and x.dtype == torch.float32:
            # float prefill: a cache in another dtype is read as the prefill's (static_passes.py);
            # SDPA's fused kernel wants keys row-major (a transposed cache: kv_cache.py)
            cached_keys = cached_keys.to(x.dtype).contiguous()
            cached_values = cached_values.to(x.dtype)
            attended = F.scaled_dot_product_attention(
                query[None], cached_keys[None], cached_values[None], attn_mask=mask, enable_gqa=True
            )[0].transpose(0, 1)
            x = x + output(layer, attended.reshape(q, heads * head_dim), is_sat)
            h = rms_norm(x, layer.post_attention_norm, w.eps)
            x = x + mlp(layer, h, is_sat)
            continue
        # Compiled: in float32 whatever the weights' dtype (bf16 attention rounds more rows
        # differently; these matmuls are still not row-invariant: see row_exact.py).
        # Grouped-query attention: the `group` query heads of one KV head share its rows.
        grouped = query.reshape(kv_heads, group * q, head_dim)
        scores = (grouped.float() @ cached_keys.float().transpose(1, 2)) * scale  # (kv, g·q, s)
        scores = scores.view(kv_heads, group, q, -1).masked_fill(blocked, float("-inf"))
        weights = torch.softmax(scores, dim=-1).view(kv_heads, group * q, -1)
        attended = (weights @ cached_values.float()).to(w.dtype)
        attended = attended.view(heads, q, head_dim).transpose(0, 1)
        x = x + output(layer, attended.reshape(q, heads * head_dim), is_sat)
        h = rms_norm(x, layer.post_attention_norm, w.eps)
        x = x + mlp(layer, h, is_sat)
    if not with_logits:
        return None
    logits = w.lm_head(rms_norm(x, w.final_norm, w.eps))
    if raw_logits:
        return logits
    if fused_attention and logits.device.type == "cpu":
        return cpu_argmax(logits)
    return logits.argmax(dim=-1)

"""Linear layers in three weight formats: float, int8 per output channel, int4 in groups.

Weight-only quantization: activations stay float (bf16 on CPU when quantized), weights are
stored low-bit and dequantized inside the matmul. On CPU the speed comes from inductor's
generated GEMM templates for `_weight_int8pack_mm` / `_weight_int4pack_mm_for_cpu` (eager,
these kernels are slower than fp32: compile them). A quantized model is a different model:
its greedy output may differ from fp32 (docs/benchmarks.md measures by how much); every
strategy still equals that configuration's own `ar`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from sdsat_lsp.config import QuantizationName as Quantization

INT4_GROUP = 32  # weights per scale/zero pair (llama.cpp's Q4 blocks are 32 too)


@dataclass(frozen=True)
class QuantizedLinear:
    """y = x · Wᵀ with W stored as `kind`; `weight` (out, in) float, int8, or int4-packed."""

    kind: Quantization
    weight: torch.Tensor
    scales: torch.Tensor | None = None  # int8: (out,); int4: (in/group, out, 2) scale and zero
    out_features: int = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:  # (n, in) -> (n, out)
        return self.bound()(x)

    def bound(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """The kernel call with its weights bound: hot loops keep it and skip the format
        dispatch (row_exact.py; a Python-level call costs µs there)."""
        weight, scales = self.weight, self.scales
        if self.kind == "int8":
            int8 = torch.ops.aten._weight_int8pack_mm.default
            return lambda x: int8(x, weight, scales)
        if self.kind == "int4":
            int4 = torch.ops.aten._weight_int4pack_mm_for_cpu.default
            return lambda x: int4(x, weight, INT4_GROUP, scales)
        return lambda x: F.linear(x, weight)


def int4_supported(weight: torch.Tensor) -> bool:
    """torch's int4 packing needs K in whole groups and an even N, on CPU."""
    out_features, in_features = weight.shape
    return weight.device.type == "cpu" and in_features % INT4_GROUP == 0 and out_features % 2 == 0


def quantize_linear(
    weight: torch.Tensor, kind: Quantization, activation_dtype: torch.dtype
) -> QuantizedLinear:
    """`weight` (out, in) float → the chosen format; int4 falls back to int8 where unsupported."""
    weight = weight.detach()
    out_features = weight.shape[0]
    if kind == "int4" and not int4_supported(weight):
        kind = "int8"
    if kind == "none":
        return QuantizedLinear("none", weight.to(activation_dtype), out_features=out_features)
    if kind == "int8":
        w = weight.float()
        scale = w.abs().amax(dim=1).clamp(min=1e-10) / 127
        q = torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8)
        return QuantizedLinear("int8", q, scale.to(activation_dtype), out_features)
    # int4, asymmetric per group: w ≈ (q - 8) · scale + zero with q in 0..15, the layout
    # torch's int4pack kernels expect (zero is the value of code 8).
    w = weight.float().reshape(out_features, -1, INT4_GROUP)
    low, high = w.amin(dim=-1), w.amax(dim=-1)
    scale = (high - low).clamp(min=1e-10) / 15
    codes = torch.round((w - low[..., None]) / scale[..., None]).clamp(0, 15)
    codes = codes.reshape(out_features, -1).to(torch.int32)
    packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(codes, 1)
    zero = low + 8 * scale
    scales_and_zeros = torch.stack([scale, zero], dim=-1).transpose(0, 1).contiguous()
    return QuantizedLinear("int4", packed, scales_and_zeros.to(activation_dtype), out_features)

"""SAT-position adapter: what makes a base causal LM SAT-capable at run time.

A `SatAdapter` holds a trained SAT input embedding and, optionally, low-rank (LoRA) updates for
every linear projection of the decoder layers. `attach_sat_adapter(model, adapter)` hooks them
into a loaded transformers model without replacing any module or weight:

- hooks on the input embedding see `input_ids`, mark the positions holding the SAT id in a
  `SatGate`, and swap in the trained SAT vector there (the SAT id may lie outside the
  vocabulary: the model never predicts it, and the output layer stays exactly the base's);
- a forward hook on each adapted linear adds `B·A·x · scale` at the marked positions only.

Ordinary positions therefore compute exactly as the base model (bit for bit: their rows are never
touched), and a call without any SAT token runs the base code path unchanged. The engine keeps
calling `model(input_ids=..., past_key_values=..., use_cache=True)` as for any HF causal LM.

This module knows nothing of training, the on-disk format (see `artifact.py`) or decoding.
"""

from __future__ import annotations

import math
import typing
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

# Names of the decoder-layer projections of Llama-family models.
LLAMA_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class LoraPair(nn.Module):
    """delta(x) = (x @ Aᵀ) @ Bᵀ · alpha/r; B starts at zero so a fresh adapter changes nothing."""

    def __init__(self, in_features: int, out_features: int, rank: int, alpha: float) -> None:
        super().__init__()
        self.lora_a = nn.Parameter(torch.empty(rank, in_features))
        self.lora_b = nn.Parameter(torch.zeros(out_features, rank))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
        self.scale = alpha / rank

    def forward(self, rows: torch.Tensor) -> torch.Tensor:  # (N, in) -> (N, out)
        return (rows @ self.lora_a.T) @ self.lora_b.T * self.scale


class SatAdapter(nn.Module):
    """Trainable SAT parameters: the SAT embedding (hidden,) and LoRA pairs keyed by module path.

    Keys of `lora` are the model's module paths with "." replaced by "/" (ModuleDict keys
    cannot contain dots), e.g. "model/layers/0/self_attn/q_proj".
    """

    def __init__(
        self,
        sat_id: int,
        sat_embedding: torch.Tensor,
        lora_shapes: dict[str, tuple[int, int]] | None = None,
        rank: int = 0,
        alpha: float = 0.0,
    ) -> None:
        super().__init__()
        self.sat_id = sat_id
        self.rank = rank
        self.alpha = alpha
        self.sat_embedding = nn.Parameter(sat_embedding.detach().clone())
        self.lora = nn.ModuleDict(
            {
                key: LoraPair(in_features, out_features, rank, alpha)
                for key, (in_features, out_features) in (lora_shapes or {}).items()
            }
        )

    @staticmethod
    def module_key(module_path: str) -> str:
        return module_path.replace(".", "/")

    @staticmethod
    def module_path(key: str) -> str:
        return key.replace("/", ".")


def lora_shapes_for(
    model: nn.Module, projections: tuple[str, ...] = LLAMA_PROJECTIONS
) -> dict[str, tuple[int, int]]:
    """(in, out) features of every decoder-layer linear whose name ends with a projection name."""
    shapes = {}
    for path, module in model.named_modules():
        if isinstance(module, nn.Linear) and path.rsplit(".", 1)[-1] in projections:
            if ".layers." not in f".{path}":
                continue
            shapes[SatAdapter.module_key(path)] = (module.in_features, module.out_features)
    return shapes


@dataclass
class SatGate:
    """Which positions of the current forward call hold the SAT token: (batch, seq) bool or None.

    Set by the embedding hook at the start of every forward call, read by the linear hooks.
    """

    mask: torch.Tensor | None = None
    all_sat: bool = False


@dataclass
class AttachedAdapter:
    """The hooks that tie a `SatAdapter` to one model; `remove()` restores the base model."""

    adapter: SatAdapter
    gate: SatGate
    model_ref: Callable[[], nn.Module | None]
    handles: list[torch.utils.hooks.RemovableHandle] = field(default_factory=list)

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()
        model = self.model_ref()
        if model is not None:
            _ATTACHED.pop(model, None)


_ATTACHED: weakref.WeakKeyDictionary[nn.Module, AttachedAdapter] = weakref.WeakKeyDictionary()


def attached_adapter(model: nn.Module) -> AttachedAdapter | None:
    """The adapter attached to `model`, if any."""
    return _ATTACHED.get(model)


def attach_sat_adapter(model: Any, adapter: SatAdapter) -> AttachedAdapter:
    """Hook `adapter` into `model` (moved to the model's device and dtype); one per model."""
    if model in _ATTACHED:
        raise ValueError("this model already has a SAT adapter attached")
    embedding = model.get_input_embeddings()
    weight = embedding.weight
    adapter.to(device=weight.device, dtype=weight.dtype)
    gate = SatGate()
    attached = AttachedAdapter(adapter=adapter, gate=gate, model_ref=weakref.ref(model))

    rows = weight.shape[0]

    def find_sats(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> Any:
        ids = inputs[0]  # (batch, seq)
        is_sat = ids == adapter.sat_id
        if not bool(is_sat.any()):
            gate.mask, gate.all_sat = None, False
            return None
        gate.mask, gate.all_sat = is_sat, bool(is_sat.all())
        if adapter.sat_id >= rows:  # a SAT outside the vocabulary: look up row 0, replaced below
            return (ids.masked_fill(is_sat, 0), *inputs[1:])
        return None

    def swap_in_sat_vector(
        module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor
    ) -> torch.Tensor:
        if gate.mask is None:
            return output
        vector = adapter.sat_embedding.to(output.dtype)
        return torch.where(gate.mask.unsqueeze(-1), vector, output)

    def forget_sats(module: nn.Module, inputs: Any) -> None:  # e.g. a call with inputs_embeds
        gate.mask, gate.all_sat = None, False

    attached.handles.append(model.register_forward_pre_hook(forget_sats))
    attached.handles.append(embedding.register_forward_pre_hook(find_sats))
    attached.handles.append(embedding.register_forward_hook(swap_in_sat_vector))
    modules = dict(model.named_modules())
    for key, module in adapter.lora.items():
        pair = typing.cast(LoraPair, module)
        path = SatAdapter.module_path(key)
        if path not in modules:
            raise ValueError(f"adapter targets {path!r}, which this model does not have")
        attached.handles.append(modules[path].register_forward_hook(_lora_hook(pair, gate)))
    _ATTACHED[model] = attached
    return attached


def _lora_hook(pair: LoraPair, gate: SatGate) -> Callable[..., torch.Tensor]:
    def hook(
        module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor
    ) -> torch.Tensor:
        mask = gate.mask
        if mask is None:
            return output
        x = inputs[0]  # (batch, seq, in)
        if gate.all_sat:
            return output + pair(x).to(output.dtype)
        where = mask.nonzero(as_tuple=True)
        delta = pair(x[where]).to(output.dtype)  # (n_sat, out)
        return torch.index_put(output, where, output[where] + delta)

    return hook

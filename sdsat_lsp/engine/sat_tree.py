"""Inputs of one fused SDSAT pass: verify this round's drafts and draft the next round at once.

The two-step round spends a whole pass (step 1) on drafting. Its SATs can instead ride along
the verify pass, but which prefix will be accepted is unknown until the pass ends, so a group
of k SATs hangs after *every* candidate prefix (a tree, as in Medusa's tree attention):

    input   = [head, d_1 … d_n,  SAT×k after head,  SAT×k after d_1,  …,  SAT×k after d_n]
    position  p … p+n           p+1 … p+k          p+2 … p+k+1           p+n+1 … p+n+k
    mask    : real tokens: the cache and earlier real tokens (causal), never a SAT;
              SAT i of the group after real token j: the cache, real tokens ≤ j, and SATs ≤ i
              of its own group.

If m drafts are accepted, the argmax at real token m is the bonus token and the group after it
has already drafted the k tokens that follow the bonus: the next round is again one pass.
Real tokens see exactly what they see in a plain verify pass, so the output stays greedy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SatTree:
    input_ids: list[int]  # head, drafts, then the SAT groups
    offsets: list[int]  # rotary position of each input, relative to the head's
    local_mask: torch.Tensor  # (q, q) bool, True = input i may attend input j
    real: int  # head + drafts: the first `real` inputs are real tokens

    def group(self, j: int, k: int) -> slice:
        """Rows of the SAT group hanging after real token j."""
        start = self.real + j * k
        return slice(start, start + k)

    def positions(self, past: int) -> list[int]:
        """Absolute positions on top of a cache holding `past` tokens (a `PassLayout`)."""
        return [past + o for o in self.offsets]

    def visible(self, past: int) -> torch.Tensor:
        """(q, past + q) bool: every input sees the whole cache, then the local mask."""
        q = len(self.input_ids)
        full = torch.ones(q, past + q, dtype=torch.bool)
        full[:, past:] = self.local_mask
        return full

    def position_ids(self, past: int, device: torch.device) -> torch.Tensor:
        """(1, q) absolute positions, as transformers takes them."""
        return torch.tensor([self.positions(past)], dtype=torch.long, device=device)

    def mask(self, past: int, device: torch.device) -> torch.Tensor:
        """(1, 1, q, past + q) bool, as transformers takes it."""
        q = len(self.input_ids)
        return self.visible(past).view(1, 1, q, past + q).to(device)


def build_sat_tree(head: int, drafts: Sequence[int], sat_id: int, k: int) -> SatTree:
    """The tree pass for `head` + `drafts` (any cache below it)."""
    real = 1 + len(drafts)
    q = real + real * k
    offsets = list(range(real))
    for j in range(real):
        offsets += range(j + 1, j + 1 + k)
    mask = torch.zeros(q, q, dtype=torch.bool)
    mask[:real, :real] = torch.ones(real, real, dtype=torch.bool).tril()
    within_group = torch.ones(k, k, dtype=torch.bool).tril()
    for j in range(real):
        rows = slice(real + j * k, real + (j + 1) * k)
        mask[rows, : j + 1] = True
        mask[rows, rows] = within_group
    return SatTree(
        input_ids=[head, *drafts] + [sat_id] * (real * k),
        offsets=offsets,
        local_mask=mask,
        real=real,
    )


def as_model_mask(mask: torch.Tensor, attn_implementation: str, dtype: torch.dtype) -> torch.Tensor:
    """A bool mask as the model's attention expects it: bool for sdpa, additive float for eager."""
    if attn_implementation == "sdpa":
        return mask
    additive = torch.zeros(mask.shape, dtype=dtype, device=mask.device)
    return additive.masked_fill(~mask, torch.finfo(dtype).min)

"""SAT groups inserted into ordinary sequences: layout, 4D attention mask, position ids, targets.

A group of k SATs "inserted after position t" (t = index of the last real token it follows) is
laid out physically *after* the whole real sequence, which is equivalent under the mask and
position ids below and keeps the real tokens contiguous (one slice for the LM loss, one cache
prefix for the split forward pass of the exact modes):

    input_ids   = [x_0 … x_{L-1}, SAT×k (group 0), SAT×k (group 1), …]
    position    = [0 … L-1,        t0+1 … t0+k,     t1+1 … t1+k,     …]
    mask[q, kv] : real q → real kv ≤ q (causal); never a SAT.
                  SAT i of group g → real kv ≤ t_g, and SATs j ≤ i of its own group.

The output at SAT i (1-based) of a group after t predicts the token i+1 steps ahead: x_{t+1+i}.
Logits at real position p predict x_{p+1}, so the base model's own teacher-forced guess for the
same token is argmax(logits[t+i]) — the "greedy" target.

This module knows nothing of optimisers: tensors in, tensors out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from sdsat_lsp.engine.sat_tree import as_model_mask


@dataclass(frozen=True)
class SatLayout:
    """SAT groups for a batch of real sequences of length L; G groups of k per sequence."""

    group_ends: torch.Tensor  # (B, G) long: t, the index of the last real token before each group
    k: int
    real_length: int  # L

    @property
    def groups(self) -> int:
        return int(self.group_ends.shape[1])

    def sat_position_ids(self) -> torch.Tensor:
        """(B, G·k): t+1 … t+k for each group."""
        offsets = torch.arange(1, self.k + 1, device=self.group_ends.device)
        return (self.group_ends.unsqueeze(-1) + offsets).flatten(1)

    def sat_rows_mask(self) -> torch.Tensor:
        """(B, 1, G·k, L + G·k) bool, True = may attend: the SAT query rows of the full mask."""
        batch, groups = self.group_ends.shape
        k, length = self.k, self.real_length
        device = self.group_ends.device
        real = torch.arange(length, device=device)
        # real keys: kv ≤ t_g                                       (B, G, L) → (B, G·k, L)
        sees_real = (real.view(1, 1, length) <= self.group_ends.unsqueeze(-1)).repeat_interleave(
            k, dim=1
        )
        # SAT keys: same group and j ≤ i                            (G·k, G·k)
        index = torch.arange(groups * k, device=device)
        same_group = (index // k).unsqueeze(1) == (index // k).unsqueeze(0)
        sees_sat = same_group & (index.unsqueeze(0) <= index.unsqueeze(1))
        sees_sat = sees_sat.expand(batch, -1, -1)
        return torch.cat([sees_real, sees_sat], dim=-1).unsqueeze(1)

    def target_indices(self) -> torch.Tensor:
        """(B, G, k): index of the real token SAT i must predict, t+1+i (i = 1 … k)."""
        offsets = torch.arange(2, self.k + 2, device=self.group_ends.device)
        return self.group_ends.unsqueeze(-1) + offsets


def sample_group_ends(
    batch: int,
    real_length: int,
    groups: int,
    k: int,
    generator: torch.Generator,
    spans: torch.Tensor | None = None,
) -> torch.Tensor:
    """(B, G) sorted distinct insertion points t with every target x_{t+1+k} inside the sequence.

    With `spans` (B, 2) = [P, E) per row, targets must also lie in row[P:E]: P-1 ≤ t ≤ E-2-k
    (a self-distilled continuation); G shrinks to the narrowest row's number of choices."""
    last_valid = real_length - 2 - k  # t + 1 + k ≤ L - 1
    if last_valid < 0:
        raise ValueError(f"sequences of {real_length} tokens are too short for k={k}")
    choices = last_valid + 1
    scores = torch.rand(batch, choices, generator=generator)
    if spans is not None:
        points = torch.arange(choices)
        lowest = (spans[:, :1] - 1).clamp(min=0)
        highest = (spans[:, 1:] - 2 - k).clamp(max=last_valid)
        allowed = (points >= lowest) & (points <= highest)
        narrowest = int(allowed.sum(1).min())
        if narrowest < 1:
            raise ValueError(f"a continuation is too short for k={k}")
        groups = min(groups, narrowest)
        scores = scores.masked_fill(~allowed, -1.0)
    groups = min(groups, choices)
    picked = scores.topk(groups, dim=1).indices
    return picked.sort(dim=1).values


def data_targets(input_ids: torch.Tensor, layout: SatLayout) -> torch.Tensor:
    """(B, G, k) the true future tokens x_{t+1+i} from the (B, L) real sequence."""
    indices = layout.target_indices().flatten(1)
    return input_ids.gather(1, indices).view_as(layout.target_indices())


def greedy_target_positions(layout: SatLayout) -> torch.Tensor:
    """(B, G, k): the real positions t+i whose base-model argmax is the greedy target of SAT i."""
    return layout.target_indices() - 1


@dataclass(frozen=True)
class SatBatch:
    """One forward pass over real tokens followed by their SAT groups."""

    input_ids: torch.Tensor  # (B, L + G·k)
    position_ids: torch.Tensor  # (B, L + G·k)
    attention_mask: torch.Tensor  # (B, 1, L + G·k, L + G·k) bool, True = may attend
    layout: SatLayout


def build_sat_batch(input_ids: torch.Tensor, layout: SatLayout, sat_id: int) -> SatBatch:
    """Append the SAT groups of `layout` to (B, L) `input_ids` with their mask and positions."""
    batch, length = input_ids.shape
    device = input_ids.device
    sat_count = layout.groups * layout.k
    real_positions = torch.arange(length, device=device).expand(batch, -1)
    sat_ids = torch.full((batch, sat_count), sat_id, dtype=input_ids.dtype, device=device)
    causal = torch.ones(length, length, dtype=torch.bool, device=device).tril()
    real_rows = torch.cat(
        [causal, torch.zeros(length, sat_count, dtype=torch.bool, device=device)], dim=1
    ).expand(batch, 1, -1, -1)
    mask = torch.cat([real_rows, layout.sat_rows_mask()], dim=2)
    return SatBatch(
        input_ids=torch.cat([input_ids, sat_ids], dim=1),
        position_ids=torch.cat([real_positions, layout.sat_position_ids()], dim=1),
        attention_mask=mask,
        layout=layout,
    )


def sat_group_logits(
    model: Any, layout: SatLayout, sat_id: int, past_key_values: Any
) -> torch.Tensor:
    """Logits at every SAT of `layout`, run over the real tokens' KV cache.

    All groups go in one pass: each SAT row sees its real prefix (from the cache) and the
    earlier SATs of its group, with position ids continuing its prefix. Shape (B, G·k, V).
    """
    positions = layout.sat_position_ids()
    dtype = next(model.parameters()).dtype
    attn = model.config._attn_implementation
    return model(
        input_ids=torch.full_like(positions, sat_id),
        position_ids=positions,
        attention_mask=as_model_mask(layout.sat_rows_mask(), attn, dtype),
        past_key_values=past_key_values,
        use_cache=True,
    ).logits

"""Where a forward pass's rows sit and what they attend, when not a plain causal extension.

A plain pass appends q tokens after the cache: positions past … past+q-1, each row sees the
whole cache and the rows before it. Two kinds of pass differ:
- the SDSAT tree (sat_tree.py): SAT groups hang after every candidate prefix;
- parallel rows (`ParallelRows`): n independent continuations of one shared prompt, one row
  each per pass, for batched sampling (batched_sampling.py). Every row sees the prompt and its
  own earlier tokens only, which lie scattered in the cache, n to a step.
Both forward paths take any `PassLayout`: transformers' forward as position ids and a 4-D mask,
the static path (static_passes.py) as its positions and mask rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch


class PassLayout(Protocol):
    def positions(self, past: int) -> list[int]:
        """The rotary position of each row, on top of a cache holding `past` rows."""
        ...

    def visible(self, past: int) -> torch.Tensor:
        """(q, past + q) bool: row i may attend cache row j (j < past) or this pass's row
        j - past."""
        ...


@dataclass(frozen=True)
class ParallelRows:
    """One step of n independent continuations: row i feeds continuation i's latest token."""

    shared: int  # cache rows [0, shared): the prompt, seen by every row
    own: Sequence[Sequence[int]]  # per row: the cache rows of its earlier tokens
    position: int  # every row's position (all continuations are equally long)

    def positions(self, past: int) -> list[int]:
        return [self.position] * len(self.own)

    def visible(self, past: int) -> torch.Tensor:
        rows = len(self.own)
        seen = torch.zeros(rows, past + rows, dtype=torch.bool)
        seen[:, : self.shared] = True
        for row, cached in enumerate(self.own):
            seen[row, list(cached)] = True
            seen[row, past + row] = True
        return seen


def model_inputs(
    layout: PassLayout, past: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """transformers' form: position ids (1, q) and a bool mask (1, 1, q, past + q)."""
    positions = torch.tensor([layout.positions(past)], dtype=torch.long, device=device)
    seen = layout.visible(past)
    return positions, seen.view(1, 1, *seen.shape).to(device)

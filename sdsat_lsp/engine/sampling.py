"""Sampling and the lossless acceptance rule for speculative sampling.

The target distribution p of a position is the model's softmax(logits / temperature) with
top-k, then top-p (nucleus) applied and renormalised: exactly what plain sampling draws from.
A draft x drawn from a draft distribution q is accepted with probability min(1, p(x)/q(x));
on rejection the token is drawn from the normalised residual max(0, p − q). Whatever q is (as
long as x was really drawn from it, independently of this position's draws), the committed
token is distributed exactly as p (Leviathan et al. 2023, Chen et al. 2023). A deterministic
draft (prompt lookup) is the point mass q = δ_x: accept with probability p(x), else draw from
p with x removed.

Every draw goes through one `torch.Generator` per request, so a seed reproduces a sample.
"""

from __future__ import annotations

import torch

from sdsat_lsp.config import SamplingParams


def target_distribution(logits: torch.Tensor, params: SamplingParams) -> torch.Tensor:
    """Rows of `logits` (…, vocab) → the probabilities plain sampling draws from (float64,
    so the acceptance ratios and residuals are not dominated by rounding)."""
    scaled = logits.double() / params.temperature
    vocab = scaled.shape[-1]
    if 0 < params.top_k < vocab:
        kth = scaled.topk(params.top_k, dim=-1).values[..., -1:]
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    probs = torch.softmax(scaled, dim=-1)
    if params.top_p < 1:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        before = sorted_probs.cumsum(dim=-1) - sorted_probs  # mass of the tokens ranked higher
        drop_sorted = before >= params.top_p  # the top token always stays (before = 0)
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        probs = probs.masked_fill(drop, 0.0)
        probs = probs / probs.sum(dim=-1, keepdim=True)
    return probs


class Sampler:
    """Draws for one request; holds its generator (seeded → reproducible)."""

    def __init__(self, params: SamplingParams, stream: int = 0) -> None:
        self.params = params
        self.generator = torch.Generator()
        if params.seed is None:
            self.generator.seed()
        else:
            # `stream` separates the alternatives of one request drawn with the same seed.
            self.generator.manual_seed(params.seed * 1_000_003 + stream)

    def distribution(self, logits: torch.Tensor) -> torch.Tensor:
        return target_distribution(logits, self.params)

    def draw(self, probs: torch.Tensor) -> int:
        """One token from a probability vector."""
        return int(torch.multinomial(probs, 1, generator=self.generator))

    def uniform(self) -> float:
        return float(torch.rand((), generator=self.generator, dtype=torch.float64))

    def verify(self, p: torch.Tensor, q: torch.Tensor | None, draft: int) -> tuple[bool, int]:
        """The rejection rule for one drafted position: (accepted, the committed token).
        `q` None: the draft is deterministic (a point mass)."""
        target = float(p[draft])
        proposal = 1.0 if q is None else float(q[draft])
        if proposal > 0 and self.uniform() < min(1.0, target / proposal):
            return True, draft
        if q is None:
            residual = p.clone()
            residual[draft] = 0.0
        else:
            residual = (p - q).clamp(min=0.0)
        if float(residual.sum()) <= 0.0:  # p ≤ q everywhere only when p = q: rounding
            residual = p
        return False, self.draw(residual / residual.sum())

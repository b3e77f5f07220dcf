"""Sampling rounds for every strategy: the same passes as the greedy rounds (decoding.py), with
drafts drawn and accepted by the lossless rejection rule (sampling.py).

- `ar`: draw the next token from p.
- `sdsat`: step 1 feeds [pending, SAT×k]; the next token y is drawn from p at `pending` (an
  exact target draw) and draft d_i from q_i, the i-th SAT's distribution after the same
  temperature/top-k/top-p transform. Step 2 feeds [y, d_1..d_k]; drafts are accepted in order
  by min(1, p_i(d_i)/q_i(d_i)); the first rejected one is replaced by a draw from the residual
  and ends the round; if none is rejected a bonus token is drawn from the last p.
- `sdsat-tree`: the tree still verifies one chain of drafts (the SAT groups are the next
  round's drafting, not alternative branches), so the same rule applies per position; the
  group after the committed prefix gives the next drafts, drawn from its q. q there is
  conditioned on the committed tokens but not on the token drawn at that position, which the
  rule allows: q may be any distribution fixed before the position's own draws.
- `lookup`: drafts are deterministic (q a point mass): accept d with probability p(d), else
  draw from p without d.
Each committed token is distributed exactly as plain sampling's (tests/engine/
test_sampling_distribution.py checks it by chi-square). Every round also reports the model's
log-probability (temperature 1, no truncation) of each committed token, for ranking
alternatives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from sdsat_lsp.engine.decoding import Decoder, Round, propose_lookup_drafts
from sdsat_lsp.engine.forward.passes import ForwardPasses
from sdsat_lsp.engine.lead import LeadConstraint
from sdsat_lsp.engine.sampling import Sampler
from sdsat_lsp.engine.sat_tree import build_sat_tree


class SamplingDecoder(Decoder):
    """The greedy Decoder's round methods, sampling. Same signatures, so Generation swaps it in."""

    def __init__(
        self, passes: ForwardPasses, sampler: Sampler, *, cancelled: Callable[[], bool]
    ) -> None:
        super().__init__(passes, cancelled=cancelled)
        self.sampler = sampler
        self._tree_q: list[torch.Tensor] = []  # sdsat-tree: q of the drafts handed out last

    def ar_round(self, pending: int) -> Round:
        logits = self.forward_logits([pending], keep=1)
        token = self.sampler.draw(self.sampler.distribution(logits[0]))
        return Round(
            (token,), passes=1, drafted=0, accepted=0, logprobs=(logprob(logits[0], token),)
        )

    def lead_round(self, pending: int, lead: LeadConstraint, generated: Sequence[int]) -> Round:
        """Draw from p restricted to the tokens that keep the cursor's indentation (lead.py)."""
        logits = self.forward_logits([pending], keep=1)[0]
        p = self.sampler.distribution(logits)
        allowed = list(lead.allowed(logits, generated))
        restricted = torch.zeros_like(p)
        restricted[allowed] = p[allowed]
        if float(restricted.sum()) > 0:
            p = restricted / restricted.sum()
        token = self.sampler.draw(p)
        return Round((token,), passes=1, drafted=0, accepted=0, logprobs=(logprob(logits, token),))

    def sdsat_round(self, pending: int, sat_id: int, k: int) -> Round:
        base = len(self.cache)
        logits = self.forward_logits([pending] + [sat_id] * k, keep=k + 1)
        self.cache.crop_to(base + 1)  # SAT entries never stay in the cache
        next_token = self.sampler.draw(self.sampler.distribution(logits[0]))
        drafts, q = self._draw_drafts(logits[1:])
        verified = self._verify(next_token, drafts, q)
        return Round(
            (next_token, *verified.committed),
            passes=2,
            drafted=verified.drafted,
            accepted=verified.accepted,
            logprobs=(logprob(logits[0], next_token), *verified.logprobs),
        )

    def sdsat_tree_round(
        self, pending: int, drafts: Sequence[int], sat_id: int, k: int
    ) -> tuple[Round, list[int]]:
        if len(self._tree_q) != len(drafts):
            raise ValueError("sdsat-tree sampling: drafts must be the ones this decoder drew")
        base = len(self.cache)
        tree = build_sat_tree(pending, drafts, sat_id, k)
        logits = self.forward_logits(tree.input_ids, keep=len(tree.input_ids), tree=tree)
        accepted, committed, logprobs = self._accept(logits[: tree.real], drafts, self._tree_q)
        self.cache.crop_to(base + 1 + accepted)  # pending and the accepted drafts stay
        following, self._tree_q = self._draw_drafts(logits[tree.group(accepted, k)])
        round_ = Round(
            committed, passes=1, drafted=len(drafts), accepted=accepted, logprobs=logprobs
        )
        return round_, following

    def lookup_round(self, pending: int, history: Sequence[int], k: int) -> Round:
        drafts = propose_lookup_drafts(history, k)
        if not drafts:
            return self.ar_round(pending)
        return self._verify(pending, drafts, None)

    # --- the rule -----------------------------------------------------------------------

    def _draw_drafts(self, logits: torch.Tensor) -> tuple[list[int], list[torch.Tensor]]:
        q = [self.sampler.distribution(row) for row in logits]
        return [self.sampler.draw(row) for row in q], q

    def _verify(self, head: int, drafts: Sequence[int], q: Sequence[torch.Tensor] | None) -> Round:
        base = len(self.cache)
        logits = self.forward_logits([head, *drafts], keep=len(drafts) + 1)
        accepted, committed, logprobs = self._accept(logits, drafts, q)
        self.cache.crop_to(base + 1 + accepted)  # head and accepted drafts stay
        return Round(committed, passes=1, drafted=len(drafts), accepted=accepted, logprobs=logprobs)

    def _accept(
        self, logits: torch.Tensor, drafts: Sequence[int], q: Sequence[torch.Tensor] | None
    ) -> tuple[int, tuple[int, ...], tuple[float, ...]]:
        """Row i of `logits` predicts the token at draft i (row len(drafts): the bonus).
        Returns the accepted count, the committed tokens and their log-probabilities."""
        committed: list[int] = []
        for index, draft in enumerate(drafts):
            p = self.sampler.distribution(logits[index])
            ok, token = self.sampler.verify(p, None if q is None else q[index], draft)
            committed.append(token)
            if not ok:
                break
        else:
            bonus = self.sampler.draw(self.sampler.distribution(logits[len(drafts)]))
            committed.append(bonus)
        scores = tuple(logprob(logits[i], t) for i, t in enumerate(committed))
        return len(committed) - 1, tuple(committed), scores


def logprob(logits: torch.Tensor, token: int) -> float:
    """The model's own log-probability of `token` (temperature 1, no truncation)."""
    return float(torch.log_softmax(logits.double(), dim=-1)[token])

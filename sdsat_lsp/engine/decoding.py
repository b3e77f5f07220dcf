"""Greedy decoding rounds: `ar`, `sdsat` (two-step draft-then-verify), `sdsat-tree`, `lookup`.

State between rounds: the KV cache holds every committed token except the last one, which is
`pending` and is fed by the next forward pass. A round runs its passes and returns the tokens
it commits; every strategy commits exactly the tokens plain greedy decoding would produce
(argmax of the same model), only in fewer passes.

SDSAT round (k semantic adaptive tokens, id `sat`):
  step 1  feed [pending, sat×k] → argmax at `pending` is the next token y, argmax at the i-th
          SAT is a draft d_i for the token i steps after y; drop the SAT cache entries.
  step 2  verify: feed [y, d_1..d_k] → argmax a_0..a_k; accept the longest prefix with
          d_i == a_{i-1}; commit y, d_1..d_m and the bonus token a_m; drop rejected entries.
SDSAT tree round (`sdsat-tree`): step 2 of one round and step 1 of the next in one pass, with
          a SAT group after every candidate prefix (sat_tree.py): one pass per round.
Lookup round: drafts come from the last n-gram's earlier occurrence in the context
(prompt-lookup decoding), then the same verify step with `pending` as the head.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from sdsat_lsp.engine.forward.passes import ForwardPasses
from sdsat_lsp.engine.kv_cache import CachedIds
from sdsat_lsp.engine.lead import LeadConstraint
from sdsat_lsp.engine.sat_tree import SatTree, build_sat_tree


class Cancelled(Exception):
    """Raised before a forward pass when the request was superseded or cancelled."""


@dataclass(frozen=True)
class Round:
    committed: tuple[int, ...]  # new tokens, in order
    passes: int
    drafted: int
    accepted: int  # drafts accepted (the bonus token is not a draft)
    logprobs: tuple[float, ...] = ()  # sampling rounds: the model's log-prob of each committed


class Decoder:
    """Runs one generation's rounds through `passes` (which own the shared KV cache)."""

    def __init__(self, passes: ForwardPasses, *, cancelled: Callable[[], bool]) -> None:
        self.passes = passes
        self.cancelled = cancelled
        self.forward_passes = 0

    @property
    def cache(self) -> CachedIds:
        return self.passes.cache  # read each time: a static cache may be replaced to grow

    def forward(
        self, token_ids: Sequence[int], keep: int, tree: SatTree | None = None
    ) -> list[int]:
        """Append `token_ids` to the cache; return the argmax at the last `keep` positions.
        With `tree`, its positions and mask replace the plain causal ones."""
        if self.cancelled():
            raise Cancelled
        predictions = self.passes.run(token_ids, keep, tree)
        self.forward_passes += 1
        return predictions

    def forward_logits(
        self, token_ids: Sequence[int], keep: int, tree: SatTree | None = None
    ) -> torch.Tensor:
        """As `forward`, but the logits (keep, vocab)."""
        if self.cancelled():
            raise Cancelled
        logits = self.passes.run_logits(token_ids, keep, tree)
        self.forward_passes += 1
        return logits

    def prefill(self, token_ids: Sequence[int]) -> None:
        """Put the prompt (all but its pending last token) into the cache, chunk by chunk;
        reported as time, not as decoding passes."""
        chunk = self.passes.prefill_chunk
        for start in range(0, len(token_ids), chunk):
            if self.cancelled():
                raise Cancelled
            self.passes.fill(token_ids[start : start + chunk])

    def verify(self, head: int, drafts: Sequence[int]) -> Round:
        """Feed [head, drafts…]; commit the accepted drafts and the model's next token."""
        base = len(self.cache)
        predictions = self.forward([head, *drafts], keep=len(drafts) + 1)
        accepted = 0
        while accepted < len(drafts) and drafts[accepted] == predictions[accepted]:
            accepted += 1
        self.cache.crop_to(base + 1 + accepted)  # head and accepted drafts stay
        committed = (*drafts[:accepted], predictions[accepted])
        return Round(committed, passes=1, drafted=len(drafts), accepted=accepted)

    def ar_round(self, pending: int) -> Round:
        (next_token,) = self.forward([pending], keep=1)
        return Round((next_token,), passes=1, drafted=0, accepted=0)

    def lead_round(self, pending: int, lead: LeadConstraint, generated: Sequence[int]) -> Round:
        """One token that keeps the text on the cursor's indentation (lead.py)."""
        logits = self.forward_logits([pending], keep=1)[0]
        token = lead.pick(logits, generated)
        return Round(
            (int(logits.argmax()) if token is None else token,), passes=1, drafted=0, accepted=0
        )

    def sdsat_round(self, pending: int, sat_id: int, k: int) -> Round:
        base = len(self.cache)
        predictions = self.forward([pending] + [sat_id] * k, keep=k + 1)
        self.cache.crop_to(base + 1)  # SAT entries never stay in the cache
        next_token, drafts = predictions[0], predictions[1:]
        verified = self.verify(next_token, drafts)
        return Round(
            (next_token, *verified.committed),
            passes=2,
            drafted=verified.drafted,
            accepted=verified.accepted,
        )

    def sdsat_tree_round(
        self, pending: int, drafts: Sequence[int], sat_id: int, k: int
    ) -> tuple[Round, list[int]]:
        """One fused pass (sat_tree.py): verify `drafts` after `pending` and draft the next
        round. Returns the round and the drafts for the tokens after its last committed one."""
        base = len(self.cache)
        tree = build_sat_tree(pending, drafts, sat_id, k)
        predictions = self.forward(tree.input_ids, keep=len(tree.input_ids), tree=tree)
        accepted = 0
        while accepted < len(drafts) and drafts[accepted] == predictions[accepted]:
            accepted += 1
        self.cache.crop_to(base + 1 + accepted)  # pending and the accepted drafts stay
        committed = (*drafts[:accepted], predictions[accepted])
        following = predictions[tree.group(accepted, k)]
        return Round(committed, passes=1, drafted=len(drafts), accepted=accepted), following

    def lookup_round(self, pending: int, history: Sequence[int], k: int) -> Round:
        drafts = propose_lookup_drafts(history, k)
        if not drafts:
            return self.ar_round(pending)
        return self.verify(pending, drafts)


def propose_lookup_drafts(history: Sequence[int], k: int, max_ngram: int = 3) -> list[int]:
    """Prompt-lookup drafts: the k tokens that followed the latest earlier occurrence of the
    longest suffix n-gram (n = max_ngram … 1) of `history`."""
    length = len(history)
    for size in range(min(max_ngram, length - 1), 0, -1):
        tail = list(history[length - size :])
        for start in range(length - size - 1, -1, -1):
            if history[start] == tail[0] and list(history[start : start + size]) == tail:
                follow = list(history[start + size : start + size + k])
                if follow:
                    return follow
    return []

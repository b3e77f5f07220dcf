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
from typing import Any

import torch

from sdsat_lsp.engine.kv_cache import KVCache
from sdsat_lsp.engine.sat_tree import SatTree, as_model_mask, build_sat_tree


class Cancelled(Exception):
    """Raised before a forward pass when the request was superseded or cancelled."""


@dataclass(frozen=True)
class Round:
    committed: tuple[int, ...]  # new tokens, in order
    passes: int
    drafted: int
    accepted: int  # drafts accepted (the bonus token is not a draft)


class Decoder:
    """Runs forward passes for one generation against a shared `KVCache`."""

    def __init__(
        self,
        model: Any,
        cache: KVCache,
        *,
        cancelled: Callable[[], bool],
        device: torch.device,
    ) -> None:
        self.model = model
        self.cache = cache
        self.cancelled = cancelled
        self.device = device
        self.passes = 0

    def forward(
        self, token_ids: Sequence[int], keep: int, tree: SatTree | None = None
    ) -> list[int]:
        """Append `token_ids` to the cache; return the argmax at the last `keep` positions.
        With `tree`, its positions and mask replace the plain causal ones."""
        if self.cancelled():
            raise Cancelled
        inputs = torch.tensor([list(token_ids)], dtype=torch.long, device=self.device)
        extra: dict[str, Any] = {}
        if tree is not None:
            attn = self.model.config._attn_implementation
            dtype = next(self.model.parameters()).dtype
            extra = dict(
                position_ids=tree.position_ids,
                attention_mask=as_model_mask(tree.mask, attn, dtype),
            )
        with torch.inference_mode():
            output = self.model(
                input_ids=inputs,
                past_key_values=self.cache.storage,
                use_cache=True,
                logits_to_keep=keep,
                **extra,
            )
        self.cache.extended_by(token_ids)
        self.passes += 1
        return output.logits[0, -keep:].argmax(dim=-1).tolist()

    def prefill(self, token_ids: Sequence[int], chunk: int = 512) -> None:
        """Put the prompt (all but its pending last token) into the cache."""
        for start in range(0, len(token_ids), chunk):
            self.forward(token_ids[start : start + chunk], keep=1)
        self.passes = 0  # prefill is reported as time, not as decoding passes

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
        tree = build_sat_tree(pending, drafts, sat_id, k, base, self.device)
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

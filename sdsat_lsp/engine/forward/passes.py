"""The interface the decoder calls for forward passes, and transformers' eager implementation.

A pass appends its tokens to the KV cache and returns the argmax at the rows the caller reads
(or, for sampling, their logits);
the caller crops the cache afterwards (SAT rows, rejected drafts). With a `SatTree` the tree's
rotary positions and mask replace the plain causal ones (any `PassLayout`: also the parallel
rows of batched sampling).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import torch

from sdsat_lsp.engine.cpu_load import ThreadPolicy
from sdsat_lsp.engine.kv_cache import CachedIds, DynamicKVCache
from sdsat_lsp.engine.pass_layout import PassLayout, model_inputs
from sdsat_lsp.engine.sat_tree import as_model_mask


class ForwardPasses(Protocol):
    @property
    def cache(self) -> CachedIds:
        """The KV cache the passes append to (a static cache may be replaced to grow)."""
        ...

    description: str  # what runs the passes, for status and logs
    dtype: torch.dtype  # what the passes compute in (bf16 activations with low-bit weights)
    prefill_chunk: int  # most tokens one `fill` takes (the decoder checks cancel in between)

    def run(self, token_ids: Sequence[int], keep: int, tree: PassLayout | None = None) -> list[int]:
        """Append `token_ids` to the cache; return the argmax at the last `keep` of them."""
        ...

    def fill(self, token_ids: Sequence[int]) -> None:
        """Append at most `prefill_chunk` tokens to the cache without reading logits."""
        ...

    def run_logits(
        self, token_ids: Sequence[int], keep: int, tree: PassLayout | None = None
    ) -> torch.Tensor:
        """As `run`, but the logits (keep, vocab) on the CPU, for sampling. Always an
        uncompiled pass: sampling never compiles a shape on a request's path."""
        ...


class TransformersPasses:
    """transformers' own forward with a DynamicCache: any causal LM, eager."""

    def __init__(
        self,
        model: Any,
        device: torch.device,
        prefill_chunk: int = 512,
        threads: ThreadPolicy | None = None,
    ) -> None:
        self.model = model
        self.device = device
        self.prefill_chunk = prefill_chunk
        self.threads = threads
        self.cache = DynamicKVCache()
        self.description = "transformers eager"
        self.dtype = next(model.parameters()).dtype

    def run(self, token_ids: Sequence[int], keep: int, tree: PassLayout | None = None) -> list[int]:
        return self._logits(token_ids, keep, tree).argmax(dim=-1).tolist()

    def run_logits(
        self, token_ids: Sequence[int], keep: int, tree: PassLayout | None = None
    ) -> torch.Tensor:
        return self._logits(token_ids, keep, tree).float().cpu()

    def _logits(self, token_ids: Sequence[int], keep: int, tree: PassLayout | None) -> torch.Tensor:
        if self.threads is not None:
            self.threads.apply()
        inputs = torch.tensor([list(token_ids)], dtype=torch.long, device=self.device)
        extra: dict[str, Any] = {}
        if tree is not None:
            attn = self.model.config._attn_implementation
            dtype = next(self.model.parameters()).dtype
            positions, mask = model_inputs(tree, len(self.cache), self.device)
            extra = dict(position_ids=positions, attention_mask=as_model_mask(mask, attn, dtype))
        with torch.inference_mode():
            output = self.model(
                input_ids=inputs,
                past_key_values=self.cache.storage,
                use_cache=True,
                logits_to_keep=keep,
                **extra,
            )
        self.cache.extended_by(token_ids)
        logits: torch.Tensor = output.logits[0, -keep:]
        return logits

    def fill(self, token_ids: Sequence[int]) -> None:
        self.run(token_ids, keep=1)

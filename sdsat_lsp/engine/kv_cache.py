"""KV caches as objects with verbs, each tracking the token ids whose keys/values it holds.

Tracking the ids beside the tensors is what makes prefix reuse and cropping checkable: after
every round `len(cache) == len(cache.token_ids)` and both equal the committed tokens minus
the one pending token that the next forward pass feeds.

- `DynamicKVCache`: transformers' DynamicCache (grows by concatenation; crop reallocates).
- `StaticKVCache`: per-layer tensors preallocated for `capacity` positions; a pass writes its
  rows in place and cropping only moves the length, so nothing is copied or reallocated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class CachedIds:
    """The id bookkeeping both caches share; subclasses drop their tensors in `_drop_after`."""

    def __init__(self) -> None:
        self.token_ids: list[int] = []

    def __len__(self) -> int:
        return len(self.token_ids)

    def extended_by(self, token_ids: Sequence[int]) -> None:
        """Record that a forward pass appended these tokens' keys/values."""
        self.token_ids.extend(token_ids)

    def crop_to(self, length: int) -> None:
        """Keep the first `length` positions (drop SAT entries, rejected drafts, stale suffix)."""
        if length >= len(self.token_ids):
            return
        self._drop_after(length)
        del self.token_ids[length:]

    def reset(self) -> None:
        self.crop_to(0)

    def common_prefix_length(self, token_ids: Sequence[int]) -> int:
        limit = min(len(self.token_ids), len(token_ids))
        for index in range(limit):
            if self.token_ids[index] != token_ids[index]:
                return index
        return limit

    def _drop_after(self, length: int) -> None:
        raise NotImplementedError


class DynamicKVCache(CachedIds):
    def __init__(self) -> None:
        from transformers import DynamicCache

        super().__init__()
        self.storage: Any = DynamicCache()

    def extended_by(self, token_ids: Sequence[int]) -> None:
        super().extended_by(token_ids)
        assert self.storage.get_seq_length() == len(self.token_ids), "cache and ids diverged"

    def _drop_after(self, length: int) -> None:
        if length == 0:
            from transformers import DynamicCache

            self.storage = DynamicCache()
        else:  # transformers 5.x: crop() takes minus the number of positions to remove
            self.storage.crop(length - len(self.token_ids))


class StaticKVCache(CachedIds):
    """keys[layer], values[layer]: (kv_heads, capacity, head_dim); rows ≥ len(self) are free.
    `keys_transposed`: each layer's keys are stored (kv_heads, head_dim, capacity) and `keys`
    are transposed views of them, so `keys[i][:, :n].transpose(1, 2)` is a plain row-major
    matrix for the scores matmul (the CPU row-by-row pass: a BLAS call on the transposed
    strided slice cost 1.5-2x as much at 300-800 rows)."""

    def __init__(
        self,
        layers: int,
        kv_heads: int,
        head_dim: int,
        capacity: int,
        dtype: Any,
        device: Any,
        keys_transposed: bool = False,
    ) -> None:
        import torch

        super().__init__()
        self.keys_transposed = keys_transposed
        shape = (kv_heads, capacity, head_dim)
        if keys_transposed:
            stored = (kv_heads, head_dim, capacity)
            self.keys = [
                torch.zeros(stored, dtype=dtype, device=device).transpose(1, 2)
                for _ in range(layers)
            ]
        else:
            self.keys = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(layers)]
        self.values = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(layers)]

    @property
    def capacity(self) -> int:
        return int(self.keys[0].shape[1])

    def _drop_after(self, length: int) -> None:
        pass  # rows past the length are free: the next pass overwrites them, masks hide them

    def grown_to(self, capacity: int) -> StaticKVCache:
        """A larger cache holding the same rows and ids (new tensors: compiled shapes change)."""
        layers, (kv_heads, _, head_dim) = len(self.keys), self.keys[0].shape
        first = self.keys[0]
        bigger = StaticKVCache(
            layers, kv_heads, head_dim, capacity, first.dtype, first.device, self.keys_transposed
        )
        used = len(self)
        for old, new in zip(self.keys + self.values, bigger.keys + bigger.values, strict=True):
            new[:, :used] = old[:, :used]
        bigger.token_ids = list(self.token_ids)
        return bigger

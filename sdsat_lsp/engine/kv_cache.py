"""The KV cache as an object with verbs, plus the token ids whose keys/values it holds.

Tracking the ids beside the tensors is what makes prefix reuse and cropping checkable: after
every round `len(cache) == len(cache.token_ids)` and both equal the committed tokens minus
the one pending token that the next forward pass feeds.
"""

from __future__ import annotations

from collections.abc import Sequence

from transformers import DynamicCache


class KVCache:
    def __init__(self) -> None:
        self.storage = DynamicCache()
        self.token_ids: list[int] = []

    def __len__(self) -> int:
        return len(self.token_ids)

    def extended_by(self, token_ids: Sequence[int]) -> None:
        """Record that a forward pass appended these tokens' keys/values."""
        self.token_ids.extend(token_ids)
        assert self.storage.get_seq_length() == len(self.token_ids), "cache and ids diverged"

    def crop_to(self, length: int) -> None:
        """Keep the first `length` positions (drop SAT entries, rejected drafts, stale suffix)."""
        if length >= len(self.token_ids):
            return
        if length == 0:
            self.reset()
            return
        # transformers 5.x: crop() takes minus the number of positions to remove.
        self.storage.crop(length - len(self.token_ids))
        del self.token_ids[length:]

    def reset(self) -> None:
        self.storage = DynamicCache()
        self.token_ids = []

    def common_prefix_length(self, token_ids: Sequence[int]) -> int:
        limit = min(len(self.token_ids), len(token_ids))
        for index in range(limit):
            if self.token_ids[index] != token_ids[index]:
                return index
        return limit

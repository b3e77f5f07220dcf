"""Incremental detokenization: text deltas that are right for SentencePiece and byte-level BPE.

Decoding generated ids alone loses a SentencePiece word's leading space and can split a
multi-byte character across tokens. So the generated ids are decoded behind a few anchor
tokens from the prompt, the anchor's own text is subtracted, and text is held back while it
ends in an incomplete character (U+FFFD).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

REPLACEMENT = "\ufffd"
ANCHOR_TOKENS = 4


class IncrementalDetokenizer:
    def __init__(self, tokenizer: Any, prompt_ids: Sequence[int]) -> None:
        self.tokenizer = tokenizer
        self.anchor = self._clean_anchor(list(prompt_ids[-ANCHOR_TOKENS:]))
        self.anchor_text = self._decode(self.anchor)
        self.generated: list[int] = []
        self.emitted = ""  # text already handed out as deltas

    def _decode(self, ids: Sequence[int]) -> str:
        return str(self.tokenizer.decode(ids, skip_special_tokens=False))

    def _clean_anchor(self, anchor: list[int]) -> list[int]:
        # An anchor that itself ends mid-character would make the subtraction wrong.
        while anchor and self._decode(anchor).endswith(REPLACEMENT):
            anchor = anchor[1:]
        return anchor

    def text(self) -> str:
        """All generated text that is complete so far."""
        return self.text_of(self.generated)

    def text_of(self, generated: Sequence[int]) -> str:
        """The complete text of `generated` ids after the prompt (any ids: the lead
        constraint asks about candidates before they are pushed)."""
        full = self._decode(self.anchor + list(generated))
        if not full.startswith(self.anchor_text):  # tokenizer normalisation quirk: fall back
            full = self.anchor_text + self._decode(generated)
        text = full[len(self.anchor_text) :]
        return text.rstrip(REPLACEMENT) if text.endswith(REPLACEMENT) else text

    def push(self, token_ids: Sequence[int]) -> str:
        """Add accepted tokens; return the new text (may be empty while a character is split)."""
        self.generated.extend(token_ids)
        text = self.text()
        if not text.startswith(self.emitted):  # never take back emitted text
            return ""
        delta = text[len(self.emitted) :]
        self.emitted = text
        return delta

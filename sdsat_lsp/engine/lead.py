"""The cursor's indentation as a constraint on a completion's first tokens.

Why: the prompt leaves out the whitespace right before the cursor (BPE models tokenize a line
break with the next line's indentation, so a prompt ending in "\\n    " reads as "a blank line
follows"; context/prompt.py). On a blank line the model therefore does not know where the user
put the cursor, and may write its next line at another indentation, for instance still inside
a loop the user has just dedented out of. So the generation starts with `starts_with`, the
cursor's line break(s) and indentation: until the text covers it, each new token is the
likeliest one that keeps the text a prefix of `starts_with`, or that completes it followed by
code (not more whitespace). A stop token is taken only when it is the likeliest token of all:
the constraint neither empties a completion the model would have written (a stop token ranked
right after a line at another indentation) nor writes one where the model would stop.

The pick is the argmax over the allowed tokens, found by walking the likeliest `CANDIDATES`
tokens in order (a few decodes each); when none of them is allowed the unconstrained choice
stands, and the stop rule aligns it as before. Every strategy runs these steps the same way
(1-token passes), so they still agree with each other token for token.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import Any

import torch

from sdsat_lsp.engine.detokenize import IncrementalDetokenizer

CANDIDATES = 256  # likeliest tokens tried per constrained step


class LeadConstraint:
    """Which next token keeps the generated text on `starts_with` (whitespace with a line
    break), given the tokens generated so far."""

    def __init__(
        self,
        starts_with: str,
        tokenizer: Any,
        prompt_ids: Sequence[int],
        stop_token_ids: Collection[int],
    ) -> None:
        self.starts_with = starts_with
        self.tokenizer = tokenizer
        self.prompt_ids = prompt_ids
        self.stop_token_ids = stop_token_ids
        self._detokenizer: IncrementalDetokenizer | None = None  # made at the first pick

    def _text_of(self, generated: Sequence[int]) -> str:
        """Text of generated ids, decoded behind the prompt as the stream's own detokenizer
        does (SentencePiece spaces, split characters)."""
        if self._detokenizer is None:
            self._detokenizer = IncrementalDetokenizer(self.tokenizer, self.prompt_ids)
        return self._detokenizer.text_of(generated)

    def active(self, generated_text: str) -> bool:
        """Still constraining: the text so far is `starts_with` or a prefix of it (the token
        after it must start the code)."""
        return self.starts_with.startswith(generated_text)

    def allows(self, text: str) -> bool:
        """`text` (generated so far plus a candidate) stays on the constraint."""
        lead = self.starts_with
        if lead.startswith(text):
            return len(text) > 0
        return text.startswith(lead) and not text[len(lead)].isspace()

    def pick(self, logits: torch.Tensor, generated: Sequence[int]) -> int | None:
        """The likeliest allowed token after `generated` (None: none among the candidates)."""
        for token in self.allowed(logits, generated):
            return token
        return None

    def allowed(self, logits: torch.Tensor, generated: Sequence[int]) -> Iterator[int]:
        """The allowed tokens among the likeliest CANDIDATES after `generated`, likeliest
        first (lazily: the greedy pick decodes only until its first)."""
        so_far = self._text_of(generated)
        top = torch.topk(logits.float(), min(CANDIDATES, logits.shape[-1])).indices.tolist()
        for rank, token in enumerate(top):
            if token in self.stop_token_ids:
                if rank == 0:
                    yield int(token)
                continue
            text = self._text_of([*generated, token])
            # a token that adds no whole character (half of one) is not progress here
            if len(text) > len(so_far) and text.startswith(so_far) and self.allows(text):
                yield int(token)

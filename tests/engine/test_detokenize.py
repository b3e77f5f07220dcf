"""Incremental detokenization: streamed deltas add up to the full decode, never take text back."""

from __future__ import annotations

from typing import Any

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from sdsat_lsp.engine.detokenize import IncrementalDetokenizer


def stream(tokenizer: Any, prompt: str, completion: str) -> tuple[list[str], str]:
    """Stream the tokens of `prompt + completion` after the prompt's tokens, one at a time.

    Returns the deltas and the text they must add up to (the prompt's last token may merge
    with the completion's first characters, so the split is at a token boundary).
    """
    full_ids = tokenizer.encode(prompt + completion, add_special_tokens=False)
    split = len(tokenizer.encode(prompt, add_special_tokens=False)) - 1
    prompt_ids = full_ids[:split]
    prompt_text = tokenizer.decode(prompt_ids)
    assert (prompt + completion).startswith(prompt_text)
    detokenizer = IncrementalDetokenizer(tokenizer, prompt_ids)
    deltas = [detokenizer.push([token]) for token in full_ids[split:]]
    return deltas, (prompt + completion)[len(prompt_text) :]


def sentencepiece_like() -> PreTrainedTokenizerFast:
    """Metaspace words (▁word), as Llama/CodeLlama tokenizers produce."""
    words = ["<unk>", "▁def", "▁return", "▁x", "▁+", "▁1", "▁grüße", "▁y", "▁", "x", "1", ":"]
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>")


def test_sentencepiece_spaces_survive_streaming() -> None:
    tokenizer = sentencepiece_like()
    deltas, expected = stream(tokenizer, "def x y", " return x + 1")
    assert expected == " y return x + 1"
    assert "".join(deltas) == expected
    assert deltas[:2] == [" y", " return"]  # decoding ▁y alone would lose the space


def test_multibyte_characters_are_held_back_until_complete(tiny_model_dir: Any) -> None:
    tokenizer = PreTrainedTokenizerFast.from_pretrained(tiny_model_dir)
    completion = "naïve = '日本語' + '🙂'\n"
    deltas, expected = stream(tokenizer, "x = 1\n", completion)
    assert "".join(deltas) == expected
    assert expected.endswith(completion)
    assert all("\ufffd" not in delta for delta in deltas)
    assert "" in deltas  # bytes of one character arrive in several tokens


@pytest.mark.default_model
def test_default_model_tokenizer_streams_exact_text() -> None:
    from sdsat_lsp.model.registry import find_spec

    spec = find_spec("smollm2-135m")
    assert spec is not None
    tokenizer = PreTrainedTokenizerFast.from_pretrained(spec.cache_path())
    completion = "    return sum(x for x in values if x > 0)  # Σ ≥ 0\n"
    deltas, expected = stream(tokenizer, "def positive_sum(values):\n", completion)
    assert expected.endswith(completion)
    assert "".join(deltas) == expected

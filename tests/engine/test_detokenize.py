"""Incremental detokenization: streamed deltas add up to the full decode, never take text back."""

from __future__ import annotations

from typing import Any

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from sdsat_lsp.engine.detokenize import IncrementalDetokenizer


def stream(tokenizer: Any, prompt: str, completion: str) -> list[str]:
    prompt_ids = tokenizer.encode(prompt, add_special_tokens=False)
    full_ids = tokenizer.encode(prompt + completion, add_special_tokens=False)
    assert full_ids[: len(prompt_ids)] == prompt_ids
    detokenizer = IncrementalDetokenizer(tokenizer, prompt_ids)
    return [detokenizer.push([token]) for token in full_ids[len(prompt_ids) :]]


def sentencepiece_like() -> PreTrainedTokenizerFast:
    """Metaspace words (▁word), as Llama/CodeLlama tokenizers produce."""
    words = ["<unk>", "▁def", "▁return", "▁x", "▁+", "▁1", "▁grüße", "▁", "x", "1", ":"]
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>")


def test_sentencepiece_spaces_survive_streaming() -> None:
    tokenizer = sentencepiece_like()
    deltas = stream(tokenizer, "def x", " return x + 1")
    assert "".join(deltas) == " return x + 1"
    assert deltas[0] == " return"  # decoding ▁return alone would lose the space


def test_multibyte_characters_are_held_back_until_complete(tiny_model_dir: Any) -> None:
    tokenizer = PreTrainedTokenizerFast.from_pretrained(tiny_model_dir)
    completion = "naïve = '日本語' + '🙂'\n"
    deltas = stream(tokenizer, "x = 1\n", completion)
    assert "".join(deltas) == completion
    assert all("\ufffd" not in delta for delta in deltas)
    assert "" in deltas  # bytes of one character arrive in several tokens


@pytest.mark.default_model
def test_default_model_tokenizer_streams_exact_text() -> None:
    from sdsat_lsp.model.registry import find_spec

    spec = find_spec("smollm2-135m")
    assert spec is not None
    tokenizer = PreTrainedTokenizerFast.from_pretrained(spec.cache_path())
    completion = "    return sum(x for x in values if x > 0)  # Σ ≥ 0\n"
    assert "".join(stream(tokenizer, "def positive_sum(values):\n", completion)) == completion

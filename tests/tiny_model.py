"""Tiny real Llama models built in the test: random weights, a byte-level tokenizer.

Used by engine, server and editor tests, which need a real model that loads through the same
code path as a user's local Hugging Face directory, in well under a second, with no download.
Run as a script to build one: `python tests/tiny_model.py DIR`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SPECIAL_TOKENS = ["<s>", "</s>", "<PRE>", "<SUF>", "<MID>", "<EOT>", "<SAT>"]


def build_tokenizer():  # -> PreTrainedTokenizerFast
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {token: index for index, token in enumerate(SPECIAL_TOKENS)}
    for char in sorted(alphabet):
        vocab[char] = len(vocab)
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(SPECIAL_TOKENS)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", unk_token=None
    )


def build_tiny_model(
    directory: Path | str,
    *,
    seed: int = 0,
    hidden_size: int = 64,
    layers: int = 2,
    with_fim: bool = True,
) -> Path:
    """Write a random tiny LlamaForCausalLM + tokenizer to `directory` (safetensors)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    tokenizer.save_pretrained(directory)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        bos_token_id=tokenizer.convert_tokens_to_ids("<s>"),
        eos_token_id=tokenizer.convert_tokens_to_ids("</s>"),
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    with torch.no_grad():  # larger logits than the default init: fewer near-ties in argmax
        model.lm_head.weight.mul_(8.0)
    model.save_pretrained(directory, safe_serialization=True)
    ids = {name: tokenizer.convert_tokens_to_ids(name) for name in SPECIAL_TOKENS}
    (directory / "tiny_model.json").write_text(json.dumps({"special_token_ids": ids}, indent=2))
    if with_fim:
        # Same shape as a registry entry, so loading treats it like a FIM model.
        (directory / "sdsat-model.toml").write_text(
            "\n".join(
                [
                    'name = "tiny-test"',
                    'family = "llama"',
                    'fim_template = "spm"',
                    f"fim_prefix_id = {ids['<PRE>']}",
                    f"fim_suffix_id = {ids['<SUF>']}",
                    f"fim_middle_id = {ids['<MID>']}",
                    f"eot_id = {ids['<EOT>']}",
                    f"sat_id = {ids['<SAT>']}",
                    "trained_k = 0",
                    "recommended_k = 4",
                    "",
                ]
            )
        )
    return directory


if __name__ == "__main__":
    print(build_tiny_model(sys.argv[1]))

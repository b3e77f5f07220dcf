"""Training-side SAT set-up: choosing the SAT token, creating a fresh adapter, picking what trains.

The run-time adapter (gated LoRA + SAT embedding hooks) lives in `sdsat_lsp.model.sat_adapter`,
so that the model package can load an artifact without importing training code.

Modes:
- full:          every base weight trains (as in the paper), plus the SAT embedding; ordinary
                 tokens change too, so the result is a new model.
- sat-adapter:   LoRA on every decoder projection, active only at SAT positions, plus the SAT
                 embedding; ordinary tokens compute exactly as the base.
- sat-embedding: only the SAT embedding; ordinary tokens compute exactly as the base.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, cast

import torch
from torch import nn

from sdsat_lsp.model.sat_adapter import LoraPair, SatAdapter, lora_shapes_for

Mode = Literal["full", "sat-adapter", "sat-embedding"]
MODES: tuple[Mode, ...] = ("full", "sat-adapter", "sat-embedding")
EXACT_MODES: tuple[Mode, ...] = ("sat-adapter", "sat-embedding")

# Special-token names that suggest a slot nobody uses: tried before any other free special token.
_RESERVED_NAME = re.compile(r"sat|reserved|unused|extra_id|placeholder", re.IGNORECASE)


class SatTokenError(ValueError):
    """No usable SAT token id: the message says what to do instead."""


@dataclass(frozen=True)
class SatToken:
    id: int
    text: str
    added: bool  # a new token: its id may lie beyond the embedding (used as input only)


def choose_sat_token(tokenizer: Any, model: Any, request: str = "auto") -> SatToken:
    """Pick the SAT id: an explicit id, a new token (`request="new"`), or a free special token.

    A special token is free when it is not a role token (BOS, EOS, PAD, UNK), not a FIM or chat
    marker, and inside the model's embedding. Names such as `<SAT>` or `<reserved_…>` win; else
    the highest free id. The caller still checks that the training data never contains it.
    """
    vocab_rows = model.get_input_embeddings().weight.shape[0]
    if request == "new":
        return _add_new_token(tokenizer, model)
    if request != "auto":
        try:
            token_id = int(request)
        except ValueError as error:
            raise SatTokenError(
                f"--sat-token must be auto, new or an id, not {request!r}"
            ) from error
        if not 0 <= token_id < vocab_rows:
            raise SatTokenError(f"SAT id {token_id} is outside the vocabulary (0…{vocab_rows - 1})")
        return SatToken(token_id, tokenizer.convert_ids_to_tokens(token_id) or "", added=False)
    role_ids = {
        tokenizer.convert_tokens_to_ids(token)
        for token in (
            tokenizer.bos_token,
            tokenizer.eos_token,
            tokenizer.pad_token,
            tokenizer.unk_token,
        )
        if token is not None
    }
    role_ids |= _config_ids(getattr(model, "config", None))
    candidates = []
    for token_id, added in tokenizer.added_tokens_decoder.items():
        name = added.content
        if not added.special or token_id in role_ids or token_id >= vocab_rows:
            continue
        if re.search(r"im_start|im_end|eot|endoftext|fim|<pre>|<suf>|<mid>", name, re.IGNORECASE):
            continue
        candidates.append((bool(_RESERVED_NAME.search(name)), token_id, name))
    if not candidates:
        raise SatTokenError(
            "this tokenizer has no free special token to use as the SAT; pass --sat-token new "
            "to add one or --sat-token ID to force an id"
        )
    _, token_id, name = max(candidates)
    return SatToken(token_id, name, added=False)


def _config_ids(config: Any) -> set[int]:
    ids: set[int] = set()
    for attribute in ("bos_token_id", "eos_token_id", "pad_token_id"):
        value = getattr(config, attribute, None)
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list):
            ids |= {item for item in value if isinstance(item, int)}
    return ids


def _add_new_token(tokenizer: Any, model: Any) -> SatToken:
    text = "<SAT>"
    if text in tokenizer.get_vocab():
        text = "<sdsat_SAT>"
    tokenizer.add_special_tokens({"additional_special_tokens": [text]})
    token_id = tokenizer.convert_tokens_to_ids(text)
    return SatToken(token_id, text, added=True)


def new_adapter(model: Any, mode: Mode, sat_id: int, rank: int, alpha: float) -> SatAdapter:
    """A fresh adapter: SAT embedding = mean input embedding; LoRA B = 0 (changes nothing yet)."""
    embedding = model.get_input_embeddings().weight.detach()
    start = embedding.float().mean(dim=0)
    shapes = lora_shapes_for(model) if mode == "sat-adapter" else {}
    if mode == "sat-adapter" and not shapes:
        raise SatTokenError("no Llama-style projections (q_proj … down_proj) found for LoRA")
    return SatAdapter(
        sat_id, start, shapes, rank=rank if shapes else 0, alpha=alpha if shapes else 0
    )


def trainable_parameters(model: nn.Module, adapter: SatAdapter, mode: Mode) -> list[nn.Parameter]:
    """Freeze what the mode does not train; return what it does."""
    for parameter in model.parameters():
        parameter.requires_grad_(mode == "full")
    parameters = list(adapter.parameters())
    for parameter in parameters:
        parameter.requires_grad_(True)
    if mode == "full":
        parameters += list(model.parameters())
    return parameters


def reduce_rank(adapter: SatAdapter, rank: int) -> SatAdapter:
    """The best rank-`rank` copy of `adapter` (truncated SVD of every scale·B·A, Eckart–Young),
    with scale 1; the SAT embedding is kept. Shrinks an artifact at a measurable cost."""
    if not adapter.lora:
        return adapter
    if not 0 < rank <= adapter.rank:
        raise ValueError(f"--export-rank must be in 1 … {adapter.rank}, got {rank}")
    pairs = {key: cast(LoraPair, pair) for key, pair in adapter.lora.items()}
    shapes = {
        key: (int(pair.lora_a.shape[1]), int(pair.lora_b.shape[0])) for key, pair in pairs.items()
    }
    reduced = SatAdapter(adapter.sat_id, adapter.sat_embedding, shapes, rank, float(rank))
    with torch.no_grad():
        for key, pair in pairs.items():
            q_b, r_b = torch.linalg.qr(pair.lora_b.double())  # (out, r), (r, r)
            q_a, r_a = torch.linalg.qr(pair.lora_a.double().T)  # (in, r), (r, r)
            u, s, vh = torch.linalg.svd(r_b @ r_a.T * pair.scale)  # scale·B·A = Q_b·(u s vh)·Q_aᵀ
            target = cast(LoraPair, reduced.lora[key])
            target.lora_b.copy_((q_b @ u[:, :rank] * s[:rank]).float())
            target.lora_a.copy_((q_a @ vh[:rank].T).T.float())
    return reduced

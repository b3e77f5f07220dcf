"""The cursor's indentation as a constraint on a completion's first tokens (engine/lead.py).

A tiny real model (random weights, byte tokens): its unconstrained text rarely starts with
"\\n" and exactly four spaces, so a constrained generation that does is the constraint at work.
"""

from __future__ import annotations

import pytest
import torch

from sdsat_lsp.config import SamplingParams
from sdsat_lsp.engine import Engine
from sdsat_lsp.engine.generation import Generation, GenerationRequest
from sdsat_lsp.engine.lead import LeadConstraint

LEAD = "\n    "
PROMPTS = ["def f(x):\n    y = x + 1", "for i in range(3):\n    total += i", "if a:\n    b = 2"]


def test_what_stays_on_the_lead() -> None:
    lead = LeadConstraint(LEAD, tokenizer=None, prompt_ids=[], stop_token_ids=())
    assert lead.allows("\n") and lead.allows("\n  ") and lead.allows(LEAD)
    assert lead.allows(LEAD + "return x") and lead.allows(LEAD + ")")
    assert not lead.allows("")  # no progress
    assert not lead.allows(LEAD + " ")  # deeper than the cursor
    assert not lead.allows("\n  x")  # left of the cursor
    assert not lead.allows("x")  # goes on with the line before
    assert lead.active("") and lead.active("\n  ") and lead.active(LEAD)
    assert not lead.active(LEAD + "x") and not lead.active("\n\t")


def generate(
    engine: Engine,
    text: str,
    strategy: str,
    starts_with: str = LEAD,
    sampling: SamplingParams | None = None,
) -> Generation:
    """No stop tokens: the random model's likeliest first token is often a special one, which
    would end these generations at once (tested below)."""
    request = GenerationRequest(
        prompt_ids=tuple(engine.encode_prompt(text)),
        strategy=strategy,  # type: ignore[arg-type]
        k=3,
        max_new_tokens=12,
        stop_token_ids=frozenset(),
        sat_id=engine.loaded.spec.sat_id,
        reuse_prefix=False,
        sampling=sampling,
        starts_with=starts_with,
    )
    generation = Generation(
        request, passes=engine.passes, tokenizer=engine.loaded.tokenizer, cancelled=lambda: False
    )
    generation.collect()
    return generation


@pytest.mark.parametrize("strategy", ["ar", "lookup", "sdsat", "sdsat-tree"])
def test_greedy_text_starts_at_the_cursor_and_strategies_agree(
    tiny_engine: Engine, strategy: str
) -> None:
    for text in PROMPTS:
        free = generate(tiny_engine, text, "ar", starts_with="")
        reference = generate(tiny_engine, text, "ar")
        constrained = generate(tiny_engine, text, strategy)
        assert not free.text.startswith(LEAD)  # the random model left alone does not
        assert reference.text.startswith(LEAD) and not reference.text[len(LEAD)].isspace()
        assert constrained.tokens == reference.tokens, (text, strategy)


def test_sampled_text_starts_at_the_cursor(tiny_engine: Engine) -> None:
    for seed in range(4):
        sampled = generate(tiny_engine, PROMPTS[0], "ar", sampling=SamplingParams(1.0, seed=seed))
        # decoded whole: a random byte after the lead may be half a character, held back
        text = tiny_engine.loaded.tokenizer.decode(sampled.tokens)
        assert text.startswith(LEAD) and not text[len(LEAD)].isspace(), text


def test_a_stop_token_only_when_it_is_the_likeliest_of_all(tiny_engine: Engine) -> None:
    tokenizer = tiny_engine.loaded.tokenizer
    eos = tokenizer.eos_token_id
    lead = LeadConstraint(LEAD, tokenizer, tokenizer.encode("x = 1"), stop_token_ids={eos})
    newline, letter = tokenizer.convert_tokens_to_ids(["Ċ", "x"])
    logits = torch.zeros(len(tokenizer))
    logits[eos], logits[newline] = 5.0, 1.0
    assert lead.pick(logits, []) == eos  # the model stops: so does the completion
    logits[letter] = 6.0  # a token the constraint refuses outranks the stop token
    assert lead.pick(logits, []) == newline  # the likeliest allowed one, not the stop

"""The completion pipeline on a tiny real Llama (random weights, byte-level tokenizer).

The tiny model repeats the character before the cursor, which makes its output predictable
enough to check what the pipeline adds: the stop rule ending generation, the streamed text
being the stop rule's view, positions without a completion, and cancellation.
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import pytest

from sdsat_lsp.config import Settings
from sdsat_lsp.context import Document, DocumentStore, Position
from sdsat_lsp.engine import Engine
from sdsat_lsp.model import load_model
from sdsat_lsp.pipeline import complete

MAX_NEW_TOKENS = 24


@pytest.fixture(scope="module")
def settings(tiny_model_dir: Path) -> Settings:
    return Settings(model=str(tiny_model_dir), device="cpu", max_new_tokens=MAX_NEW_TOKENS)


@pytest.fixture(scope="module")
def engine(tiny_model_dir: Path, settings: Settings) -> Engine:
    return Engine(load_model(str(tiny_model_dir), device="cpu"), settings)


def document_at(marked: str) -> tuple[Document, Position]:
    """A python document from text with `|` at the cursor."""
    store = DocumentStore()
    store.open("file:///repo/pipeline.py", "python", marked.replace("|", ""), 1)
    document = store.get("file:///repo/pipeline.py")
    return document, document.position_at(marked.index("|"))


def test_stop_rule_ends_generation_that_would_run_to_the_limit(
    engine: Engine, settings: Settings
) -> None:
    # A blank line that closes an `if` block: the model's "1111…" is not a statement there.
    # (Its first tokens left to the model: held to the cursor's indentation, the random tiny
    # model ranks a special token above the one allowed byte and ends at once.)
    document, position = document_at("def f():\n    if x:\n        y = 1\n    |\n")
    free = {"cursor_indentation": False}
    stopped = complete(engine, document, position, settings, **free)
    unstopped = complete(engine, document, position, settings, stop_rules=False, **free)
    assert stopped.finish_reason == "stop" and stopped.text == ""
    assert stopped.stats is not None and stopped.new_tokens < MAX_NEW_TOKENS
    assert unstopped.finish_reason == "length" and unstopped.new_tokens == MAX_NEW_TOKENS
    assert unstopped.text == unstopped.raw_text and unstopped.text.startswith("1")
    # greedy: the stopped run is the start of the unstopped one
    assert unstopped.raw_text.startswith(stopped.raw_text)


def test_streamed_text_grows_and_ends_as_the_stop_rules_view(
    engine: Engine, settings: Settings
) -> None:
    document, position = document_at("total = compute(a, b|)\n")
    shown: list[str] = []
    outcome = complete(engine, document, position, settings, on_text=shown.append)
    stop = outcome.prompt.stop
    assert outcome.finish_reason == "length" and outcome.text.startswith("b")
    assert len(shown) >= 2 and len(set(shown)) == len(shown)  # sent only when it changed
    assert all(later.startswith(earlier) for earlier, later in itertools.pairwise(shown))
    assert shown[-1] == stop.visible(outcome.raw_text)
    assert outcome.text == stop.finalize(outcome.raw_text)
    assert outcome.stats is not None and outcome.stats["new_tokens"] == outcome.new_tokens


def test_no_completion_in_the_middle_of_an_identifier(engine: Engine, settings: Settings) -> None:
    document, position = document_at("value = comp|ute(a)\n")
    sent: list[str] = []
    outcome = complete(engine, document, position, settings, on_text=sent.append)
    assert outcome.finish_reason == "none" and outcome.prompt.reason == "middle of an identifier"
    assert outcome.stats is None and outcome.text == "" and not sent  # the model never ran
    raw = complete(engine, document, position, settings, stop_rules=False)
    assert raw.new_tokens == MAX_NEW_TOKENS and raw.text == raw.raw_text != ""


def test_cancelling_while_streaming_stops_before_the_next_pass(
    engine: Engine, settings: Settings
) -> None:
    document, position = document_at("name = first|\n")
    sent: list[str] = []
    outcome = complete(
        engine, document, position, settings, on_text=sent.append, cancelled=lambda: bool(sent)
    )
    assert outcome.finish_reason == "cancelled" and outcome.text == ""
    assert len(sent) == 1
    assert outcome.stats is not None and 0 < outcome.new_tokens < MAX_NEW_TOKENS


def test_settings_choose_strategy_and_length_per_call(engine: Engine, settings: Settings) -> None:
    document, position = document_at("name = first|\n")
    lookup = complete(engine, document, position, settings)
    plain = dataclasses.replace(settings, strategy="ar", max_new_tokens=8)
    ar = complete(engine, document, position, plain)
    assert lookup.stats is not None and ar.stats is not None
    assert (lookup.stats["strategy"], ar.stats["strategy"]) == ("lookup", "ar")
    assert ar.new_tokens == 8 and lookup.text.startswith(ar.text)  # lossless, only shorter


def test_alternatives_batched_equal_alternatives_one_after_the_other(
    engine: Engine, settings: Settings
) -> None:
    """The engine batches a manual trigger's samples; with `ar` (the draws a batch row makes)
    and a seed, the answer is the one sequential sampling gives, the first item streamed."""
    document, position = document_at("name = first|\n")
    sampled = dataclasses.replace(settings, strategy="ar", temperature=2.0, seed=3)
    shown: list[str] = []
    batched = complete(engine, document, position, sampled, alternatives=3, on_text=shown.append)
    sequential = complete(
        engine, document, position, sampled, alternatives=3, batch_alternatives=False
    )
    assert batched.alternatives, "several distinct samples"
    assert (batched.text, batched.alternatives) == (sequential.text, sequential.alternatives)
    assert shown and shown[-1] == batched.prompt.stop.visible(batched.raw_text)

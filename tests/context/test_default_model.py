"""Stop rules and the cursor's whitespace on the real default model (SmolLM2-135M, no FIM).

Skipped unless the model is cached (`make fetch-model`). Greedy output is deterministic, but
these tests assert properties of the completion, not the model's exact words.
"""

from __future__ import annotations

from typing import Any

import pytest

from sdsat_lsp import pipeline
from sdsat_lsp.config import Settings
from sdsat_lsp.context import Prompt

from .helpers import open_with_cursor

pytestmark = pytest.mark.default_model


@pytest.fixture(scope="module")
def engine() -> Any:
    from sdsat_lsp.engine import Engine

    return Engine.load(Settings(device="cpu"))


def complete(engine: Any, raw: str) -> tuple[Prompt, str, list[str]]:
    """The completion pipeline at `<CURSOR>`: its prompt, final text and every shown text."""
    document, position = open_with_cursor(raw, "python", "file:///repo/src/files.py")
    settings = Settings(device="cpu", strategy="ar", max_new_tokens=32, context_tokens=512)
    shown: list[str] = []
    outcome = pipeline.complete(engine, document, position, settings, on_text=shown.append)
    return outcome.prompt, outcome.text, shown


def test_blank_line_after_a_docstring_gets_a_completion(engine: Any) -> None:
    # The bug: the prompt ended in the line's indentation, the model's first token was "\n",
    # and the completion came back empty.
    raw = (
        "import os\n\n\ndef list_python_files(root):\n"
        '    """Return all .py files below root."""\n    <CURSOR>\n'
    )
    prompt, text, shown = complete(engine, raw)
    assert not prompt.prefix.endswith((" ", "\n"))
    assert text.strip(), "empty completion"
    assert not text[0].isspace()
    assert all(not s[:1].isspace() for s in shown)
    for line in text.split("\n")[1:]:
        assert not line.strip() or line.startswith("    ")  # never leaves the function


def test_blank_line_in_a_block_gets_one_line(engine: Any) -> None:
    raw = (
        "import os\n\n\ndef count_lines(path):\n    total = 0\n"
        "    with open(path) as handle:\n        for line in handle:\n"
        "            total += 1\n    <CURSOR>\n"
    )
    prompt, text, _ = complete(engine, raw)
    assert prompt.stop.lead == "\n    "
    assert text.strip() and "\n" not in text
    assert not text[0].isspace()


def test_space_after_equals_is_not_doubled(engine: Any) -> None:
    prompt, text, _ = complete(engine, "def add(a, b):\n    total = <CURSOR>\n")
    assert prompt.stop.lead == " "
    assert text.strip() and not text[0].isspace() and "\n" not in text

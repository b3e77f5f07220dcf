"""Prompt recipes: pieces turned off, and snippets cut to fit their budget (not dropped)."""

from __future__ import annotations

import pytest

from sdsat_lsp.context import Position, PromptRecipe, Range, TextChange, build_prompt
from sdsat_lsp.context.prompt import MIN_SNIPPET_LINES

from .helpers import count_words, open_text, open_with_cursor

NEIGHBOUR = "".join(
    f"def load_config_{i}(config_path, environment):\n"
    f"    settings = read_yaml(config_path)\n"
    f"    return settings[environment]\n"
    for i in range(12)
)
CURRENT = (
    "import os\n\n\ndef main(config_path, environment):\n"
    "    settings = read_yaml(config_path)\n    value = settings[environment]\n"
    + "    print(value)\n" * 6
    + "    <CURSOR>\n"
)


def _prompt(recipe: PromptRecipe | None, budget: int = 300):  # type: ignore[no-untyped-def]
    neighbour = open_text(NEIGHBOUR, uri="file:///repo/config_loaders.py")
    document, position = open_with_cursor(CURRENT, uri="file:///repo/main.py")
    return (
        document,
        position,
        neighbour,
        build_prompt(
            document,
            position,
            budget_tokens=budget,
            count_tokens=count_words,
            fim=False,
            other_documents=[neighbour],
            recipe=recipe,
        ),
    )


def test_a_snippet_over_its_budget_is_cut_to_lines_that_fit() -> None:
    *_, whole = _prompt(None)  # the default keeps snippets whole
    assert "snippet" not in [p.name for p in whole.pieces]  # a 20-line window is over 45 words
    *_, trimmed = _prompt(PromptRecipe(trim_snippets=True))
    [snippet] = [p for p in trimmed.pieces if p.name == "snippet"]
    assert snippet.tokens <= trimmed.budget.snippets == 45
    lines = snippet.text.splitlines()
    assert lines[0] == "# Compare this snippet from repo/config_loaders.py:"
    assert len(lines) - 1 >= MIN_SNIPPET_LINES
    assert all(line.startswith("#") for line in lines)
    code = "\n".join(line[2:] for line in lines[1:])
    assert code in NEIGHBOUR  # whole lines of the neighbour, in order


def test_the_window_alone() -> None:
    *_, prompt = _prompt(PromptRecipe(header=False, snippets=False, scope=False, definitions=False))
    assert [p.name for p in prompt.pieces] == ["prefix_window"]
    assert prompt.budget.header == prompt.budget.snippets == prompt.budget.scope == 0


def test_a_recipe_from_piece_names() -> None:
    *_, named = _prompt(PromptRecipe.from_pieces(["header", "scope"]))
    assert [p.name for p in named.pieces] == ["header", "prefix_window"]  # imports in the window
    budget = named.budget
    assert budget.header > 0 and budget.scope > 0 and budget.snippets == budget.definitions == 0
    *_, window = _prompt(PromptRecipe.from_pieces([]))
    assert [p.name for p in window.pieces] == ["prefix_window"]
    with pytest.raises(ValueError, match="unknown prompt pieces"):
        PromptRecipe.from_pieces(["snippet"])


def test_typing_keeps_the_prefix_with_trimmed_snippets() -> None:
    recipe = PromptRecipe(trim_snippets=True)
    document, position, neighbour, previous = _prompt(recipe)
    for char in "total = len(settings) + len(value)":
        document.apply(document.version + 1, [TextChange(Range(position, position), char)])
        position = Position(position.line, position.character + 1)
        prompt = build_prompt(
            document,
            position,
            budget_tokens=300,
            count_tokens=count_words,
            fim=False,
            other_documents=[neighbour],
            recipe=recipe,
        )
        assert prompt.prefix + prompt.stop.lead == previous.prefix + previous.stop.lead + char
        previous = prompt

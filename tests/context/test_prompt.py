"""Prompt building: budgets, prefix stability under typing, snippets, odd text, big files."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdsat_lsp.context import (
    Document,
    InvalidPosition,
    Position,
    Range,
    Shape,
    TextChange,
    build_prompt,
    describe_prompt,
)
from sdsat_lsp.context.prompt import CHUNK_LINES

from .helpers import count_bytes, count_words, open_fixture, open_text, open_with_cursor


def _type(document: Document, position: Position, text: str) -> Position:
    document.apply(document.version + 1, [TextChange(Range(position, position), text)])
    return Position(position.line, position.character + len(text))


def _within_budget(budget: int, prefix: str, suffix: str, count: Callable[[str], int]) -> bool:
    """The whole prompt within budget as the tokenizer counts it (empty text is free)."""
    return sum(count(text) for text in (prefix, suffix) if text) <= budget


# -- budgets -----------------------------------------------------------------------------------


@pytest.mark.parametrize("budget", [0, 1, 5, 20, 60, 120, 400, 5000])
@pytest.mark.parametrize("count", [count_words, count_bytes])
def test_budget_truncation(budget: int, count: Callable[[str], int]) -> None:
    document, position = open_fixture("inventory.py")
    prompt = build_prompt(document, position, budget_tokens=budget, count_tokens=count, fim=True)
    assert prompt.tokens <= budget
    assert _within_budget(budget, prompt.prefix, prompt.suffix, count)
    cursor = document.offset_at(position)
    # Whatever is cut, the prefix ends exactly at the cursor and the suffix starts there.
    assert document.text[:cursor].endswith(prompt.prefix[-20:] if budget >= 20 else "")
    assert document.text[cursor:].startswith(prompt.suffix)
    assert (prompt.prefix + prompt.stop.lead).endswith(document.text[prompt.window_start : cursor])
    assert not prompt.stop.lead.strip()


def test_big_budget_takes_the_whole_file_and_no_scope() -> None:
    document, position = open_fixture("inventory.py")
    prompt = build_prompt(
        document, position, budget_tokens=5000, count_tokens=count_words, fim=True
    )
    assert prompt.window_start == 0
    assert [p.name for p in prompt.pieces] == ["header", "prefix_window", "suffix_window"]
    cursor = document.offset_at(position)
    assert prompt.suffix == document.text[cursor:]


def test_budget_split_caps_each_piece() -> None:
    document, position = open_fixture("matrix.cpp")
    prompt = build_prompt(document, position, budget_tokens=120, count_tokens=count_words, fim=True)
    tokens = {piece.name: piece.tokens for piece in prompt.pieces}
    assert tokens["suffix_window"] <= prompt.budget.suffix == 30
    assert tokens.get("imports", 0) + tokens.get("signatures", 0) <= prompt.budget.scope == 18
    assert tokens["header"] <= prompt.budget.header == 30
    description = json.loads(json.dumps(describe_prompt(prompt)))
    assert description["shape"] == "single_line"
    assert description["budget"]["total"] == 120
    assert [p["tokens"] for p in description["pieces"]] == [p.tokens for p in prompt.pieces]
    assert description["tokens"] <= 120


def test_one_huge_line_is_cut_inside_the_line() -> None:
    line = "x = [" + ", ".join(str(i) for i in range(3000)) + "]"
    document, position = open_with_cursor(f"import os\n{line[:-1]}<CURSOR>]\n")
    prompt = build_prompt(document, position, budget_tokens=100, count_tokens=count_words, fim=True)
    assert prompt.tokens <= 100
    assert count_words(prompt.prefix) + count_words(prompt.suffix) <= 100
    assert len(prompt.pieces[-2].text) > 50  # the window still holds the end of the line
    assert prompt.suffix == "]\n"


# -- prefix stability --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["inventory.py", "router.js", "server.go", "deploy.rb"])
def test_typing_extends_the_previous_prefix(name: str) -> None:
    document, position = open_fixture(name)
    neighbour = open_text(
        "def restock(inventory, sku):\n    item = inventory.items[sku]\n    return item\n"
    )
    typed = "result = self.history[-1] if self.history else None  # keep the last change"
    kwargs = {"budget_tokens": 220, "count_tokens": count_words, "fim": True}
    previous = build_prompt(document, position, other_documents=[neighbour], **kwargs)
    breaks = 0
    for char in typed:
        position = _type(document, position, char)
        prompt = build_prompt(document, position, other_documents=[neighbour], **kwargs)
        # Typing extends prefix + lead by the character; the prefix only grows (a space
        # typed goes to the lead), so the engine's KV cache of the old prefix stays valid.
        if prompt.prefix + prompt.stop.lead != previous.prefix + previous.stop.lead + char or (
            not prompt.prefix.startswith(previous.prefix)
        ):
            breaks += 1
            # The only reason allowed: the window moved forward by whole chunks of lines.
            assert prompt.window_start > previous.window_start
            assert document.line_of(prompt.window_start) % CHUNK_LINES == 0
        assert prompt.suffix == previous.suffix
        previous = prompt
    assert breaks <= 2


def test_prefix_is_stable_when_everything_fits() -> None:
    document, position = open_with_cursor("import os\n\ndef f():\n    <CURSOR>\n")
    kwargs = {"budget_tokens": 1000, "count_tokens": count_bytes, "fim": False}
    previous = build_prompt(document, position, **kwargs)
    for char in "return os.getcwd()":
        position = _type(document, position, char)
        prompt = build_prompt(document, position, **kwargs)
        assert prompt.prefix + prompt.stop.lead == previous.prefix + previous.stop.lead + char
        assert prompt.prefix.startswith(previous.prefix)
        previous = prompt


# -- snippets from other documents -------------------------------------------------------------


def test_similar_snippet_from_another_document_is_included_once() -> None:
    helpers = open_text(
        "def unrelated():\n    return 42\n\n\n"
        + "\n" * 30
        + "def load_config(config_path, environment):\n"
        "    settings = read_yaml(config_path)\n"
        "    return merge_overrides(settings, environment)\n",
        uri="file:///repo/src/config_utils.py",
    )
    other_language = open_text(
        "function load_config(config_path, environment) { read_yaml(config_path); }\n",
        "javascript",
        "file:///repo/web/config.js",
    )
    current_raw = (
        "import sys\n\n"
        "def main(config_path, environment):\n"
        "    settings = read_yaml(config_path)\n"
        "    overrides = merge_overrides(settings, environment)\n"
        + "    log(settings)\n" * 6
        + "    <CURSOR>\n"
    )
    document, position = open_with_cursor(current_raw, uri="file:///repo/src/main.py")
    prompt = build_prompt(
        document,
        position,
        budget_tokens=400,
        count_tokens=count_words,
        fim=False,
        other_documents=[helpers, other_language, helpers, document],
    )
    snippets = [piece for piece in prompt.pieces if piece.name == "snippet"]
    assert len(snippets) == 1
    assert snippets[0].source == "file:///repo/src/config_utils.py"
    assert snippets[0].text.startswith("# Compare this snippet from repo/src/config_utils.py:\n")
    assert "# def load_config(config_path, environment):" in snippets[0].text
    assert "unrelated" not in snippets[0].text
    assert prompt.pieces[0].name == "header"
    assert prompt.pieces[1].name == "snippet"


# -- odd documents -----------------------------------------------------------------------------


def test_empty_file() -> None:
    document = open_text("")
    prompt = build_prompt(
        document, Position(0, 0), budget_tokens=64, count_tokens=count_words, fim=True
    )
    assert prompt.shape is Shape.MULTI_LINE
    assert prompt.prefix == "# Path: repo/src/example.py\n"
    assert prompt.suffix == ""
    with pytest.raises(InvalidPosition):
        build_prompt(document, Position(1, 0), budget_tokens=64, count_tokens=count_words, fim=True)


def test_crlf_and_tabs() -> None:
    raw = "package main\r\n\r\nfunc main() {\r\n\tif ok {<CURSOR>\r\n\t}\r\n}\r\n"
    document, position = open_with_cursor(raw, "go", "file:///r/main.go")
    assert position == Position(3, 8)
    prompt = build_prompt(document, position, budget_tokens=100, count_tokens=count_words, fim=True)
    assert prompt.prefix.endswith("func main() {\r\n\tif ok {")
    assert prompt.suffix == "\r\n\t}\r\n}\r\n"
    assert prompt.shape is Shape.MULTI_LINE
    assert prompt.stop.block_indent == 4
    assert prompt.stop.rest_of_line == ""


def test_non_ascii_identifiers_and_emoji() -> None:
    raw = "def grüße(名前):\n    emoji = '😀'\n    return 名前<CURSOR>\n"
    document, position = open_with_cursor(raw)
    assert position == Position(2, 13)
    prompt = build_prompt(document, position, budget_tokens=100, count_tokens=count_bytes, fim=True)
    assert prompt.prefix.endswith("    emoji = '😀'\n    return 名前")
    assert prompt.shape is Shape.SINGLE_LINE
    # A UTF-16 position inside the emoji lands before it, never inside the pair.
    inside = build_prompt(
        document, Position(1, 14), budget_tokens=100, count_tokens=count_bytes, fim=True
    )
    assert inside.prefix.endswith("emoji = '")


def test_ten_thousand_line_file_after_an_edit() -> None:
    from sdsat_lsp.context.bench import generated_source

    text = generated_source(10_000)
    document = open_text(text, uri="file:///repo/src/big.py")
    line = 7_001
    position = Position(line, len(document.line_text(line)))
    _type(document, position, "  # edited")
    prompt = build_prompt(
        document,
        Position(line, position.character + 10),
        budget_tokens=1024,
        count_tokens=count_bytes,
        fim=True,
    )
    assert prompt.tokens <= 1024
    assert prompt.prefix.endswith("  # edited")
    names = [piece.name for piece in prompt.pieces]
    assert names[:3] == ["header", "imports", "signatures"]
    assert document.line_of(prompt.window_start) > 6_900


# -- properties --------------------------------------------------------------------------------

_TEXT = st.lists(
    st.sampled_from([*"ab_ 1\t\n\r(){}[]:;'\"#/*\\é😀", "def ", "if ", "\r\n", "    "]),
    max_size=120,
).map("".join)


@settings(max_examples=150, deadline=None)
@given(
    text=_TEXT,
    language_id=st.sampled_from(["python", "javascript", "rust", "c", "go", "plaintext"]),
    line=st.integers(0, 12),
    character=st.integers(0, 40),
    budget=st.integers(0, 300),
    fim=st.booleans(),
    use_bytes=st.booleans(),
)
def test_any_text_any_position_gives_a_prompt_within_budget(
    text: str,
    language_id: str,
    line: int,
    character: int,
    budget: int,
    fim: bool,
    use_bytes: bool,
) -> None:
    count = count_bytes if use_bytes else count_words
    document = open_text(text, language_id, f"file:///r/x.{language_id}")
    line = min(line, document.line_count - 1)
    position = Position(line, character)
    prompt = build_prompt(
        document,
        position,
        budget_tokens=budget,
        count_tokens=count,
        fim=fim,
        other_documents=[open_text(text[::-1], language_id, "file:///r/other")],
    )
    assert prompt.tokens <= budget
    assert _within_budget(budget, prompt.prefix, prompt.suffix, count)
    cursor = document.offset_at(position)
    assert (prompt.prefix + prompt.stop.lead).endswith(document.text[prompt.window_start : cursor])
    assert not prompt.stop.lead.strip()
    assert document.text[cursor:].startswith(prompt.suffix)
    assert fim or prompt.suffix == ""
    json.dumps(describe_prompt(prompt))
    generated = text[:50]
    cut = prompt.stop.check(generated)
    assert cut is None or 0 <= cut <= len(generated)
    prompt.stop.finalize(generated)


def test_snippet_already_in_the_current_file_is_dropped() -> None:
    shared = "def load_config(config_path, environment):\n    return read_yaml(config_path)\n"
    copy = open_text(shared, uri="file:///repo/src/copy.py")
    raw = shared + "\n" * 8 + "load_config(config_path, environment)\n<CURSOR>\n"
    document, position = open_with_cursor(raw, uri="file:///repo/src/main.py")
    prompt = build_prompt(
        document,
        position,
        budget_tokens=400,
        count_tokens=count_words,
        fim=False,
        other_documents=[copy],
    )
    assert [piece.name for piece in prompt.pieces] == ["header", "prefix_window"]


def test_megabyte_line_is_never_counted_whole() -> None:
    longest: list[int] = []

    def counting(text: str) -> int:
        longest.append(len(text))
        return count_words(text)

    line = "var a=" + "f(1)," * 200_000
    document, position = open_with_cursor(f"{line}<CURSOR>{line}\n", "javascript", "file:///r/m.js")
    prompt = build_prompt(document, position, budget_tokens=512, count_tokens=counting, fim=True)
    assert prompt.tokens <= 512
    assert prompt.prefix.endswith("f(1),")
    assert prompt.suffix.startswith("var a=f(1),")
    assert max(longest) <= 512 * 24

"""Stop rules on realistic continuations, streamed the way the engine calls them."""

from __future__ import annotations

import pytest

from sdsat_lsp.context import Prompt, Shape, build_prompt

from .helpers import count_words, open_fixture, open_with_cursor


def stream(prompt: Prompt, generated: str, step: int = 3) -> tuple[str, int]:
    """Feed `generated` in deltas of `step` characters; return (final text, chars consumed)."""
    so_far = ""
    for start in range(0, len(generated), step):
        so_far = generated[: start + step]
        cut = prompt.stop.check(so_far)
        if cut is not None:
            assert 0 <= cut <= len(so_far)
            return prompt.stop.finalize(so_far[:cut]), len(so_far)
    return prompt.stop.finalize(so_far), len(so_far)


def prompt_at(raw: str, language_id: str = "python", fim: bool = False) -> Prompt:
    document, position = open_with_cursor(raw, language_id, f"file:///r/x.{language_id}")
    return build_prompt(document, position, budget_tokens=400, count_tokens=count_words, fim=fim)


def fixture_prompt(name: str) -> Prompt:
    document, position = open_fixture(name)
    return build_prompt(document, position, budget_tokens=400, count_tokens=count_words, fim=True)


def test_python_block_ends_at_the_dedent() -> None:
    prompt = fixture_prompt("inventory.py")
    generated = (
        "\n            del self.items[sku]\n            self.history.append((sku, 0))\n"
        "        return item\n\n    def report(self) -> str:\n        return self.last_report\n"
    )
    text, consumed = stream(prompt, generated)
    assert text == "\n            del self.items[sku]\n            self.history.append((sku, 0))"
    assert consumed < len(generated) // 2 + 10  # stopped early: the rest was never generated


def test_python_else_at_the_header_indent_leaves_the_block() -> None:
    prompt = prompt_at("def f(x):\n    if x:<CURSOR>\n")
    text, _ = stream(prompt, "\n        a()\n    else:\n        b()\n")
    assert text == "\n        a()"


def test_python_docstring_then_repeat_of_existing_body_stops() -> None:
    prompt = prompt_at("def total(items):<CURSOR>\n    return sum(items)\n")
    assert prompt.shape is Shape.MULTI_LINE
    text, _ = stream(
        prompt, '\n    """Sum the items."""\n    return sum(items)\n\n\nprint(total([1]))'
    )
    assert text == '\n    """Sum the items."""'


def test_top_level_block_ends_before_the_next_top_level_statement() -> None:
    prompt = prompt_at("<CURSOR>")
    generated = "def main():\n    x = 1\n\n    return x\n\nmain()\n"
    assert stream(prompt, generated)[0] == "def main():\n    x = 1\n\n    return x"
    assert stream(prompt, "import os\n\n\ndef main():\n    pass\n")[0] == "import os"


def test_brace_block_closes_itself_when_the_document_has_no_closer_for_it() -> None:
    # router.js: the `}` after the cursor closes the method, not the new `if` block.
    prompt = fixture_prompt("router.js")
    generated = (
        "\n      console.warn(`slow ${request.path}`); // }\n    }\n  }\n\n  async close() {\n"
    )
    text, consumed = stream(prompt, generated)
    assert text == "\n      console.warn(`slow ${request.path}`); // }\n    }"
    assert consumed < len(generated)


def test_brace_block_stops_before_the_closer_already_in_the_document() -> None:
    prompt = fixture_prompt("server.go")
    text, _ = stream(prompt, "delete(s.items, key)\n\t\t}\n\t\tw.WriteHeader(http.StatusOK)\n")
    assert text == "delete(s.items, key)"


def test_auto_closed_brace_moves_to_its_own_line() -> None:
    prompt = fixture_prompt("queue.rs")  # `if drained == 0 {<CURSOR>}`
    text, _ = stream(prompt, "\n            return Vec::new();\n        }\n        out\n    }\n")
    assert text == "\n            return Vec::new();\n        "


def test_closer_after_the_cursor_is_not_repeated_mid_line() -> None:
    prompt = fixture_prompt("Ledger.java")  # `System.out.println(summary.<CURSOR>);`
    text, _ = stream(prompt, "toUpperCase());\n        return largest;\n")
    assert text == "toUpperCase()"


def test_single_line_ends_at_the_newline() -> None:
    prompt = fixture_prompt("ring.c")  # `return total > 0 ? 0 : <CURSOR>`
    generated = "-1;\n}\n\nint ring_pop(ring_t *ring) {\n"
    text, consumed = stream(prompt, generated, step=1)
    assert text == "-1;"
    assert consumed == len("-1;\n")


def test_string_completion_strips_the_closing_quote_already_there() -> None:
    prompt = prompt_at('print("Hello, <CURSOR>")\n')
    assert prompt.stop.open_quote == '"'
    text, _ = stream(prompt, 'world!")\nprint("bye")\n')
    assert text == "world!"


def test_nested_call_keeps_its_own_parentheses() -> None:
    prompt = prompt_at("value = outer(inner(<CURSOR>\n")
    text, _ = stream(prompt, "x, y)) + 1\nother()\n")
    assert text == "x, y)) + 1"


def test_comment_brackets_and_strings_do_not_count() -> None:
    prompt = prompt_at("function f() {<CURSOR>}\n", "javascript")
    text, _ = stream(prompt, "\n  const s = '}';  // }\n  return s;\n}\n\nfunction g() {}\n")
    assert text == "\n  const s = '}';  // }\n  return s;\n"


def test_two_blank_lines_end_a_multi_line_block() -> None:
    prompt = prompt_at("class A:<CURSOR>\n", "python")
    text, _ = stream(prompt, "\n    x = 1\n\n\n    def later(self):\n        pass\n")
    assert text == "\n    x = 1"


def test_top_level_brace_language() -> None:
    prompt = prompt_at("<CURSOR>", "javascript")
    generated = "import fs from 'fs';\n\nexport function main() {\n  return 1;\n}\n"
    assert stream(prompt, generated)[0] == "import fs from 'fs';"


def test_no_completion_shape_stops_at_once() -> None:
    prompt = prompt_at("x = comp<CURSOR>ute(1)\n")
    assert prompt.shape is Shape.NONE
    assert prompt.stop.check("") == 0
    assert prompt.stop.finalize("uter") == ""


@pytest.mark.parametrize("step", [1, 2, 5, 1000])
def test_cut_does_not_depend_on_delta_size(step: int) -> None:
    prompt = fixture_prompt("inventory.py")
    generated = "\n            del self.items[sku]\n        return item\n"
    assert stream(prompt, generated, step)[0] == "\n            del self.items[sku]"


def test_finalize_trims_trailing_whitespace_only() -> None:
    prompt = prompt_at("x =<CURSOR>\n")
    assert prompt.stop.finalize("  1 + 2   \n") == "  1 + 2"

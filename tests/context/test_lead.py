"""The whitespace before the cursor: left out of the prompt, expected from the model.

Continuations are what SmolLM2-135M wrote for these prompts (first tokens "\\n   ", " for" ...):
a line break with the next line's indentation, which the stop rule aligns with the cursor.
"""

from __future__ import annotations

import itertools

import pytest

from sdsat_lsp.context import Prompt, Shape, build_prompt

from .helpers import count_words, open_with_cursor


def prompt_at(raw: str, language_id: str = "python", fim: bool = False) -> Prompt:
    document, position = open_with_cursor(raw, language_id, f"file:///r/x.{language_id}")
    return build_prompt(document, position, budget_tokens=400, count_tokens=count_words, fim=fim)


def stream(prompt: Prompt, generated: str, step: int = 1) -> tuple[str, list[str], int]:
    """Feed deltas as the engine does: (final text, visible texts, characters generated)."""
    shown: list[str] = []
    so_far = ""
    for start in range(0, len(generated), step):
        so_far = generated[: start + step]
        cut = prompt.stop.check(so_far)
        if cut is not None:
            so_far = so_far[:cut]
            shown.append(prompt.stop.visible(so_far))
            return prompt.stop.finalize(so_far), shown, min(start + step, len(generated))
        shown.append(prompt.stop.visible(so_far))
    return prompt.stop.finalize(so_far), shown, len(generated)


BLANK_LINE_IN_BLOCK = (
    "import os\n\n\ndef main(path):\n    files = os.listdir(path)\n    <CURSOR>\n    return files\n"
)


def test_blank_line_prompt_ends_at_the_previous_code() -> None:
    prompt = prompt_at(BLANK_LINE_IN_BLOCK)
    assert prompt.shape is Shape.SINGLE_LINE
    assert prompt.prefix.endswith("files = os.listdir(path)")
    assert prompt.stop.lead == "\n    "
    window = next(p.text for p in prompt.pieces if p.name == "prefix_window")
    assert window.endswith("(path)")


@pytest.mark.parametrize("step", [1, 3, 1000])
def test_blank_line_completion_is_aligned_with_the_cursor(step: int) -> None:
    prompt = prompt_at(BLANK_LINE_IN_BLOCK)
    generated = "\n    for file_name in files:\n        with open(file_name) as f:\n"
    text, shown, consumed = stream(prompt, generated, step)
    assert text == "for file_name in files:"
    assert consumed < len(generated) or step >= len(generated)
    # Ghost text never shows the cursor's own whitespace, and only grows.
    assert all(not s[:1].isspace() for s in shown)
    assert all(b.startswith(a) for a, b in itertools.pairwise(shown))


def test_blank_line_completion_keeps_extra_indentation() -> None:
    prompt = prompt_at("def f(items):\n    for item in items:\n<CURSOR>\n")
    assert prompt.stop.lead == "\n"
    text, _, _ = stream(prompt, "\n        print(item)\n\nf([1])\n")
    assert text == "        print(item)"


def test_blank_line_skips_blank_lines_the_model_adds() -> None:
    prompt = prompt_at(BLANK_LINE_IN_BLOCK)
    text, _, _ = stream(prompt, "\n\n    files.sort()\n")
    assert text == "files.sort()"


def test_dedent_from_a_blank_line_gives_no_completion() -> None:
    prompt = prompt_at(BLANK_LINE_IN_BLOCK)
    text, shown, consumed = stream(prompt, "\n\n\ndef other():\n    pass\n")
    assert text == ""
    assert all(s == "" for s in shown)
    assert consumed == len("\n\n\nd")  # stopped at the first code character


def test_same_line_continuation_reads_at_the_cursor() -> None:
    prompt = prompt_at("result = compute(\n    <CURSOR>\n")
    assert prompt.prefix.endswith("compute(")
    assert stream(prompt, " left, right)\nprint(result)\n")[0] == "left, right)"


def test_word_continuation_of_the_line_above_gives_no_completion() -> None:
    prompt = prompt_at("value = total\n<CURSOR>")
    assert stream(prompt, "_count + 1\n")[0] == ""


@pytest.mark.parametrize(
    ("raw", "generated", "expected"),
    [
        ("def add(a, b):\n    total = <CURSOR>\n", " 0\n    for i in a:\n", "0"),
        ("def add(a, b):\n    total = <CURSOR>\n", "0\n", "0"),
        ("def add(a, b):\n    total =  <CURSOR>\n", "  a + b\n", "a + b"),
        ("def add(a, b):\n    return a + <CURSOR>\n", "\n\n# Example usage:\n", ""),
        ('print("Hello, <CURSOR>")\n', ' world!")\n', "world!"),
    ],
)
def test_mid_line_space_before_the_cursor(raw: str, generated: str, expected: str) -> None:
    prompt = prompt_at(raw)
    assert not prompt.prefix.endswith(" ")
    assert stream(prompt, generated)[0] == expected


def test_tab_indented_brace_block() -> None:
    prompt = prompt_at("func f() int {\n\tx := 1\n\t<CURSOR>\n}\n", "go")
    assert prompt.stop.lead == "\n\t"
    assert stream(prompt, "\n\treturn x\n}\n")[0] == "return x"


def test_empty_body_multi_line_from_the_blank_line() -> None:
    prompt = prompt_at("class Stack:\n    def push(self, item):\n        <CURSOR>\n")
    assert prompt.shape is Shape.MULTI_LINE
    generated = "\n        self.items.append(item)\n        return self\n\n    def pop(self):\n"
    text, _, _ = stream(prompt, generated, 2)
    assert text == "self.items.append(item)\n        return self"


def test_fim_suffix_still_starts_at_the_cursor() -> None:
    prompt = prompt_at(BLANK_LINE_IN_BLOCK, fim=True)
    assert prompt.suffix.startswith("\n    return files")
    assert prompt.prefix.endswith("os.listdir(path)")


def test_first_line_repeating_the_next_line_is_dropped() -> None:
    prompt = prompt_at(BLANK_LINE_IN_BLOCK)
    assert stream(prompt, "\n    return files\n")[0] == ""


# -- the end of a comment line --------------------------------------------------------------------

COMMENT_LINE = "import os\n\n\ndef main():\n    # list the files in the current directory<CURSOR>\n"


def test_end_of_comment_line_gives_the_next_line() -> None:
    prompt = prompt_at(COMMENT_LINE)
    assert prompt.shape is Shape.SINGLE_LINE and prompt.stop.next_line
    generated = "\n    files = os.listdir(os.getcwd())\n    print(files)\n"
    assert stream(prompt, generated)[0] == "\n    files = os.listdir(os.getcwd())"


def test_end_of_comment_line_may_continue_the_comment() -> None:
    prompt = prompt_at(COMMENT_LINE)
    assert stream(prompt, " and print them\n    files = []\n")[0] == " and print them"


def test_end_of_comment_line_next_line_left_of_the_comment_is_dropped() -> None:
    prompt = prompt_at(COMMENT_LINE)
    assert stream(prompt, "\ndef get_files(directory):\n")[0] == ""


def test_trailing_comment_after_code_stays_on_its_line() -> None:
    prompt = prompt_at("x = 1  # the count<CURSOR>\n")
    assert not prompt.stop.next_line
    assert stream(prompt, "\ny = 2\n")[0] == ""

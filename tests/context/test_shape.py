"""Completion shapes at the cursor, from the syntax tree and the surrounding lines."""

from __future__ import annotations

import pytest

from sdsat_lsp.context import Shape, build_prompt

from .helpers import count_words, open_with_cursor

CASES = [
    # (language id, text with <CURSOR>, shape, block indent for multi-line)
    ("python", "def f(x):<CURSOR>\n", Shape.MULTI_LINE, 0),
    ("python", "class A:\n    def f(self):<CURSOR>  \n", Shape.MULTI_LINE, 4),
    ("python", "def f(x):\n    <CURSOR>\n\ndef g():\n    pass\n", Shape.MULTI_LINE, 0),
    ("python", "def f(x):  # note\n    <CURSOR>\n", Shape.MULTI_LINE, 0),
    ("python", "def f(x):\n    y = 1\n    <CURSOR>\n    return y\n", Shape.SINGLE_LINE, None),
    ("python", "x = compute(<CURSOR>)\n", Shape.MULTI_LINE, 0),
    ("python", "x = comp<CURSOR>ute(1)\n", Shape.NONE, None),
    ("python", "x = <CURSOR>compute(1)\n", Shape.NONE, None),
    ("python", "x = 1 + <CURSOR>\n", Shape.SINGLE_LINE, None),
    ("python", "x = 1  # a comment <CURSOR>\n", Shape.SINGLE_LINE, None),
    ("python", "x = 1  # a <CURSOR>comment\n", Shape.NONE, None),
    ("python", 'x = "hello <CURSOR>world"\n', Shape.NONE, None),
    ("python", 'x = "hello <CURSOR>"\n', Shape.SINGLE_LINE, None),
    ("python", 'def f():\n    """Return <CURSOR>\n    """\n', Shape.SINGLE_LINE, None),
    ("python", 'x = f"{na<CURSOR>}"\n', Shape.SINGLE_LINE, None),
    ("python", "<CURSOR>", Shape.MULTI_LINE, -1),
    ("python", "\n\n<CURSOR>\n", Shape.MULTI_LINE, -1),
    ("python", "import os\n\n<CURSOR>\n\ndef g():\n    pass\n", Shape.MULTI_LINE, -1),
    ("python", "x = 1 +<CURSOR> y\n", Shape.NONE, None),
    ("javascript", "function f() {<CURSOR>}\n", Shape.MULTI_LINE, 0),
    ("javascript", "function f() {\n  <CURSOR>\n}\n", Shape.MULTI_LINE, 0),
    ("javascript", "function f() {\n  a();\n  <CURSOR>\n  b();\n}\n", Shape.SINGLE_LINE, None),
    ("javascript", "const s = `a ${x} <CURSOR>b`;\n", Shape.NONE, None),
    ("javascript", "foo(a, <CURSOR>);\n", Shape.SINGLE_LINE, None),
    ("typescript", "if (x) {<CURSOR>\n}\n", Shape.MULTI_LINE, 0),
    ("typescriptreact", "const a = <div>{<CURSOR>}</div>;\n", Shape.NONE, None),
    ("typescriptreact", "const a = (\n  <div>\n    {<CURSOR>}\n", Shape.MULTI_LINE, 4),
    ("go", "func f() {\n\tfor {\n\t\t<CURSOR>\n\t}\n}\n", Shape.MULTI_LINE, 4),
    ("go", 'func f() {\n\ts := "a<CURSOR>b"\n}\n', Shape.NONE, None),
    ("rust", "fn f() {\n    let x = 1;<CURSOR>\n}\n", Shape.SINGLE_LINE, None),
    ("rust", "fn f() {\n    // TODO: <CURSOR>\n}\n", Shape.SINGLE_LINE, None),
    ("c", "int f(void) {\n    /* a <CURSOR> b */\n}\n", Shape.NONE, None),
    ("c", "int f(void) {\n    /* a */<CURSOR>\n}\n", Shape.SINGLE_LINE, None),
    ("cpp", "struct A {<CURSOR>\n};\n", Shape.MULTI_LINE, 0),
    ("java", "class A {\n    void f() {\n        <CURSOR>\n    }\n}\n", Shape.MULTI_LINE, 4),
    ("ruby", "def f\n  x = 1<CURSOR>\nend\n", Shape.SINGLE_LINE, None),
    ("ruby", "items.each do |x|\n  <CURSOR>\nend\n", Shape.SINGLE_LINE, None),
    ("plaintext", "a cat sa<CURSOR>t\n", Shape.NONE, None),
    # Where users pause first.
    ("python", 'def f(root):\n    """Return the files."""\n    <CURSOR>\n', Shape.MULTI_LINE, 0),
    (
        "python",
        'class A:\n    def f(self):\n        """Doc."""\n        <CURSOR>\n\n    def g(self):\n'
        "        pass\n",
        Shape.MULTI_LINE,
        4,
    ),
    ("python", 'def f():\n    """Doc."""\n    <CURSOR>\n    return 1\n', Shape.SINGLE_LINE, None),
    ("python", 'def f():\n    x = """a"""\n    <CURSOR>\n', Shape.SINGLE_LINE, None),
    ("python", '"""Module doc."""\n<CURSOR>\n', Shape.MULTI_LINE, -1),
    ("python", "def f(a,\n      b):\n    <CURSOR>\n", Shape.MULTI_LINE, 0),
    ("python", "class A:\n    def f(self,\n          x):<CURSOR>\n", Shape.MULTI_LINE, 4),
    ("python", "def f(\n    a,\n) -> int:\n    <CURSOR>\n", Shape.MULTI_LINE, 0),
    ("python", "def f(x):\n    y = <CURSOR>\n", Shape.SINGLE_LINE, None),
    ("python", "def f(x):\n    y = g(<CURSOR>\n", Shape.MULTI_LINE, 4),
    ("python", "def f(x):\n    y = g(<CURSOR>)\n", Shape.MULTI_LINE, 4),
    ("python", "def f(x):\n    # sort the items<CURSOR>\n", Shape.SINGLE_LINE, None),
    ("javascript", "function f(a,\n           b) {\n  <CURSOR>\n}\n", Shape.MULTI_LINE, 0),
]


@pytest.mark.parametrize(("language_id", "raw", "shape", "indent"), CASES)
def test_shape(language_id: str, raw: str, shape: Shape, indent: int | None) -> None:
    document, position = open_with_cursor(raw, language_id, f"file:///r/x.{language_id}")
    prompt = build_prompt(
        document, position, budget_tokens=200, count_tokens=count_words, fim=False
    )
    assert prompt.shape is shape, prompt.reason
    assert prompt.stop.shape is shape
    assert prompt.stop.block_indent == indent


def test_text_after_cursor_is_a_single_line_fill_with_fim() -> None:
    document, position = open_with_cursor("x = 1 +<CURSOR> y\n")
    prompt = build_prompt(document, position, budget_tokens=200, count_tokens=count_words, fim=True)
    assert prompt.shape is Shape.SINGLE_LINE
    assert prompt.suffix.startswith(" y")


def test_syntax_error_still_gives_a_shape_and_prompt() -> None:
    raw = "def f(:\n    x = [1, 2\n    if x:<CURSOR>\n"
    document, position = open_with_cursor(raw)
    assert document.tree is not None and document.tree.root_node.has_error
    prompt = build_prompt(document, position, budget_tokens=100, count_tokens=count_words, fim=True)
    assert prompt.shape is Shape.MULTI_LINE
    assert prompt.prefix.endswith("    if x:")


def test_multi_line_header_block_ends_at_the_dedent_to_its_first_line() -> None:
    document, position = open_with_cursor("def f(a,\n      b):\n    <CURSOR>\n\nf(1, 2)\n")
    prompt = build_prompt(
        document, position, budget_tokens=200, count_tokens=count_words, fim=False
    )
    generated = "\n    total = a + b\n    return total\n\nprint(f(1, 2))\n"
    cut = prompt.stop.check(generated)
    assert prompt.stop.finalize(generated[:cut]) == "total = a + b\n    return total"


@pytest.mark.parametrize(
    ("raw", "next_line"),
    [
        ("def f(x):\n    # sort the items<CURSOR>\n", True),
        ("def f(x):\n    # sort the items <CURSOR>\n", True),
        ("x = 1  # note<CURSOR>\n", False),
        ("// sort the items<CURSOR>\n", True),
    ],
)
def test_end_of_a_comment_line_may_give_the_next_line(raw: str, next_line: bool) -> None:
    language_id = "javascript" if raw.startswith("//") else "python"
    document, position = open_with_cursor(raw, language_id, f"file:///r/x.{language_id}")
    prompt = build_prompt(
        document, position, budget_tokens=200, count_tokens=count_words, fim=False
    )
    assert prompt.shape is Shape.SINGLE_LINE
    assert prompt.stop.next_line is next_line

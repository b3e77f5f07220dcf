"""Stop rules: where a streamed completion ends, and how its text is cleaned up.

The prompt leaves out the whitespace right before the cursor (`StopRule.lead`: the indentation
of a blank line and the line breaks before it, or the space after `x =`), because a prompt
that ends in whitespace is out of distribution for BPE models: they tokenize a line break
together with the next line's indentation, so after a bare "\n" they start at column 0 and
after "\n    " they start a new line. The model is expected to generate that whitespace
itself; `StopRule` aligns its output with the cursor before any other rule looks at it: the
whitespace the cursor already has is dropped, extra indentation kept, and a first line that
would sit left of the cursor (a dedent) ends the completion at once.

Three calls, all on the whole raw model text so far (`generated`):

- `check(generated)`: after every streamed delta (the engine's stop callback). None to go on,
  or how many characters of `generated` to keep: stop once the completion has left its block
  (a dedent to the block header's indentation in indentation languages; the closer of the
  block's opener or a closer already right of the cursor in every language), on a line that
  repeats the code after the cursor, a newline in single-line mode, two blank lines, or a
  blank line before new top-level code when the block is the file itself.
- `visible(generated)`: the text to show at the cursor while streaming (ghost text): the
  aligned text up to the cut, "" while the model has only produced the cursor's whitespace.
  Servers send this for every delta, never the raw deltas.
- `finalize(generated)`: the text to insert when generation ends: `visible` minus what the
  document already has after the cursor, repeated lines and trailing whitespace.

The rule is plain data built by prompt.py; it knows nothing of models.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sdsat_lsp.context.shape import Shape
from sdsat_lsp.context.syntax import indent_width

_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = frozenset(_OPENERS.values())
_DISTINCTIVE = re.compile(r"\w.*\w|\w{2,}")
_WORD = re.compile(r"\w")


@dataclass(frozen=True)
class StopRule:
    shape: Shape
    indented_blocks: bool = True
    # Indentation width of the block header line (-1: the file is the block); None: one line.
    block_indent: int | None = None
    block_closer: str = ""  # the closer that ends the block ('' when indentation ends it)
    rest_of_line: str = ""  # text right of the cursor on its line
    next_lines: tuple[str, ...] = ()  # the next non-blank lines after the cursor line, stripped
    after_cursor: str = ""  # first non-whitespace character after the cursor ('' at the end)
    # Indentation width of that character's line when it starts a later line; None when it
    # is on the cursor's line (an editor's auto-inserted closer, `{|}`).
    after_cursor_indent: int | None = None
    comment: str = "#"  # line comment marker of the language
    open_quote: str = ""  # the quote of the string the cursor is in ('' when not in one)
    quotes: tuple[str, ...] = ('"""', "'''", '"', "'", "`")
    line_is_blank_before_cursor: bool = False
    # Single-line mode may start with a line break, then give one line at or right of the
    # cursor line's indentation (`line_indent`): the code a comment line describes.
    next_line: bool = False
    line_indent: int = 0
    # Whitespace before the cursor that the prompt leaves out and the model should generate.
    lead: str = ""
    # The last character before `lead` ('' at the start of the file).
    before_lead: str = ""

    def check(self, generated: str) -> int | None:
        """None to go on, or the length of `generated` to keep when generation should stop."""
        if self.shape is Shape.NONE:
            return 0
        start = self._aligned_start(generated)
        if start is None:
            return None
        if start < 0:
            return 0
        text = generated[start:]
        closer_cut = self._closer_cut(text)
        line_cut = self._line_cut(text)
        cuts = [cut for cut in (closer_cut, line_cut) if cut is not None]
        return start + min(cuts) if cuts else None

    def visible(self, generated: str) -> str:
        """The text to show at the cursor for the raw model text so far (streaming)."""
        if self.shape is Shape.NONE:
            return ""
        start = self._aligned_start(generated)
        if start is None or start < 0:
            return ""
        cut = self.check(generated)
        return generated[start:] if cut is None else generated[start:cut]

    def finalize(self, generated: str) -> str:
        """The text to insert at the cursor: `visible`, without overlap with the text after
        the cursor, repeated lines and trailing whitespace."""
        text = self.visible(generated)
        if not text.strip():
            return ""
        text = self._strip_repeated_lines(text)
        head, newline, last = text.rpartition("\n")
        if newline and not last.strip() and self.rest_of_line.strip() and head.strip():
            # Cut before a closer right of the cursor (`{|}`): it moves to its own line, so
            # keep the newline and the indentation the model gave it.
            return head.rstrip() + "\n" + last
        return self._strip_rest_of_line_overlap(text.rstrip())

    # -- alignment with the cursor ------------------------------------------------------------

    def _aligned_start(self, generated: str) -> int | None:
        """Where the text to insert at the cursor starts in `generated`: None while the model
        has produced only whitespace, -1 when its first code cannot go at the cursor."""
        if not self.lead:
            return 0
        if "\n" not in self.lead:
            # Mid-line (`x = |`): drop up to the spaces the line already has before the cursor.
            spaces = len(generated) - len(generated.lstrip(" \t"))
            return None if spaces == len(generated) else min(spaces, len(self.lead))
        code = len(generated) - len(generated.lstrip())
        if code == len(generated):
            return None
        whitespace = generated[:code]
        if "\n" not in whitespace:
            # The model goes on with the line before the cursor's (`f(` then ` a, b)`): its
            # text still reads right at the cursor unless it continues a word there.
            if not whitespace and _WORD.match(self.before_lead[-1:]) and _WORD.match(generated):
                return -1
            return code
        indentation = whitespace.rpartition("\n")[2]
        cursor_indentation = self.lead.rpartition("\n")[2]
        if indent_width(indentation) < indent_width(cursor_indentation):
            return -1  # a dedent: the code belongs left of the cursor
        if indentation.startswith(cursor_indentation):
            return code - (len(indentation) - len(cursor_indentation))
        return code

    # -- line rules -------------------------------------------------------------------------

    def _line_cut(self, generated: str) -> int | None:
        lines = generated.split("\n")
        offset = 0
        blank_run = 0
        for index, line in enumerate(lines):
            complete = index < len(lines) - 1
            if index > 0 and self.shape is Shape.SINGLE_LINE:
                if not (self.next_line and index == 1 and not lines[0].strip()):
                    return offset - 1
                if line.strip() and indent_width(line) < self.line_indent:
                    return 0
            stripped = line.strip()
            if stripped and (index > 0 or self.line_is_blank_before_cursor):
                # The first line's indentation continues the cursor's: only later lines dedent.
                if index > 0 and self._leaves_block(line, blank_run):
                    return offset - 1
                if complete and self._repeats_suffix(stripped):
                    return max(offset - 1, 0)
            if index > 0 and not stripped and complete:
                blank_run += 1
                if blank_run >= 2 and self.shape is Shape.MULTI_LINE:
                    return offset - 1
            elif stripped:
                blank_run = 0
            offset += len(line) + 1
        return None

    def _leaves_block(self, line: str, blank_run: int) -> bool:
        if self.block_indent is None or not line.strip():
            return False
        stripped = line.lstrip()
        if stripped[0] in _CLOSERS:
            return False  # closers are the bracket rule's business
        if self.block_indent < 0:
            return blank_run > 0 and indent_width(line) == 0
        return self.indented_blocks and indent_width(line) <= self.block_indent

    def _repeats_suffix(self, stripped: str) -> bool:
        return (
            bool(self.next_lines)
            and stripped == self.next_lines[0]
            and bool(_DISTINCTIVE.search(stripped))
        )

    # -- bracket rule -----------------------------------------------------------------------

    def _closer_cut(self, generated: str) -> int | None:
        """Cut at the first unbalanced closer that the document already has after the cursor,
        or after the line of the one that closes the block's opener."""
        unbalanced, _, _ = self._scan(generated)
        for index, char in unbalanced:
            if char == self.after_cursor and self._same_closer(generated, index):
                return index
            if char == self.block_closer and self.shape is Shape.MULTI_LINE:
                newline = generated.find("\n", index)
                return None if newline < 0 else newline
        return None

    def _scan(self, generated: str) -> tuple[list[tuple[int, str]], list[str], str]:
        """Brackets of the code in `generated` (strings and comments skipped).

        Returns the closers that close nothing opened in `generated` (index, char), the
        closers still expected at the end, and the quote still open at the end.
        """
        unbalanced: list[tuple[int, str]] = []
        expected: list[str] = []
        quote = self.open_quote
        index = 0
        length = len(generated)
        while index < length:
            if quote:
                if generated.startswith("\\", index):
                    index += 2
                    continue
                if generated.startswith(quote, index):
                    index += len(quote)
                    quote = ""
                    continue
                if generated[index] == "\n" and len(quote) == 1 and quote != "`":
                    quote = ""  # an unterminated one-line string ends with its line
                index += 1
                continue
            char = generated[index]
            if generated.startswith(self.comment, index) or generated.startswith("/*", index):
                index = self._skip_comment(generated, index)
                continue
            opened = next((q for q in self.quotes if generated.startswith(q, index)), "")
            if opened:
                quote = opened
                index += len(opened)
                continue
            if char in _OPENERS:
                expected.append(_OPENERS[char])
            elif char in _CLOSERS:
                if expected and expected[-1] == char:
                    expected.pop()
                elif not expected:
                    unbalanced.append((index, char))
            index += 1
        return unbalanced, expected, quote

    def _same_closer(self, generated: str, index: int) -> bool:
        """Whether the closer at `index` is the one already after the cursor: any closer in
        the middle of a line, one on its own line only at that closer's indentation."""
        line_start = generated.rfind("\n", 0, index) + 1
        before = generated[line_start:index]
        if line_start == 0 or before.strip() or self.after_cursor_indent is None:
            return True
        return indent_width(before) == self.after_cursor_indent

    def _skip_comment(self, generated: str, index: int) -> int:
        if generated.startswith("/*", index) and self.comment != "#":
            end = generated.find("*/", index + 2)
            return end + 2 if end >= 0 else len(generated)
        if generated.startswith(self.comment, index):
            end = generated.find("\n", index)
            return end if end >= 0 else len(generated)
        return index + 1

    # -- finalize helpers -------------------------------------------------------------------

    def _strip_repeated_lines(self, text: str) -> str:
        lines = text.split("\n")
        for count in range(min(len(lines) - 1, len(self.next_lines)), 0, -1):
            tail = [line.strip() for line in lines[-count:]]
            if tail == list(self.next_lines[:count]) and any(
                _DISTINCTIVE.search(line) for line in tail
            ):
                return "\n".join(lines[:-count])
        return text

    def _strip_rest_of_line_overlap(self, text: str) -> str:
        """Drop a tail of `text` that the line already has right of the cursor (`foo)` before
        `)`), unless the tail closes a bracket or string the completion itself opened."""
        rest = self.rest_of_line.strip()
        for size in range(min(len(rest), len(text)), 0, -1):
            if not text.endswith(rest[:size]):
                continue
            head = text[: len(text) - size]
            _, expected, quote = self._scan(head)
            if not expected and (not quote or rest.startswith(quote)):
                return head
        return text

"""Tree-sitter context for completions: open documents, prompts within a token budget,
completion shapes and stop rules.

Pure Python plus tree-sitter: no torch, no LSP types. The server feeds `DocumentStore` and calls
`build_prompt`; the engine stops with `Prompt.stop.check`, the server shows `visible` while
streaming and inserts `finalize` at the end.
"""

from sdsat_lsp.context.document import (
    Document,
    DocumentStore,
    InvalidPosition,
    Position,
    Range,
    TextChange,
)
from sdsat_lsp.context.languages import language_for
from sdsat_lsp.context.prompt import (
    BudgetSplit,
    Prompt,
    PromptPiece,
    PromptRecipe,
    build_prompt,
    describe_prompt,
)
from sdsat_lsp.context.shape import Shape
from sdsat_lsp.context.stop import StopRule

__all__ = [
    "BudgetSplit",
    "Document",
    "DocumentStore",
    "InvalidPosition",
    "Position",
    "Prompt",
    "PromptPiece",
    "PromptRecipe",
    "Range",
    "Shape",
    "StopRule",
    "TextChange",
    "build_prompt",
    "describe_prompt",
    "language_for",
]

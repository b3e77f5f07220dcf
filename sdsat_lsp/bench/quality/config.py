"""The quality benchmark's settings (no heavy imports: `sdsat-lsp bench --help` reads them)."""

from __future__ import annotations

from dataclasses import dataclass, field

# The prompt strategies, as strategies.py defines them.
STRATEGIES = (
    "prefix",
    "prefix-unaligned",
    "header",
    "ours",
    "ours-no-snippets",
    "ours+definitions",
    "trimmed-snippets",
    "shipped",
    "ring",
)


@dataclass(frozen=True)
class QualityConfig:
    points: int = field(default=300, metadata={"help": "Python points (all kinds together)"})
    other_points: int = field(
        default=100, metadata={"help": "points for each other language (all kinds together)"}
    )
    languages: tuple[str, ...] = field(
        default=("python", "javascript", "typescript"), metadata={"help": "languages to run"}
    )
    strategies: tuple[str, ...] = field(
        default=STRATEGIES, metadata={"help": "prompt strategies (ablations)"}
    )
    context_tokens: int = field(default=512, metadata={"help": "prompt budget, every strategy"})
    line_tokens: int = field(default=32, metadata={"help": "token cap, next_line and rest_of_line"})
    body_tokens: int = field(default=48, metadata={"help": "token cap, body"})
    humaneval: int = field(default=0, metadata={"help": "HumanEval problems for pass@1 (164: all)"})
    seed: int = field(default=0, metadata={"help": "seed for cutting points and the ring"})

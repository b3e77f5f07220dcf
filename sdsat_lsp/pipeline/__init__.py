"""The completion pipeline, one function for every caller, above any model backend.

Layering: server, commands and benchmarks → pipeline → context (prompts, stop rules) and a
`CompletionBackend` (today `sdsat_lsp.engine.Engine`). Imports no torch: the server imports
it at start-up, before the model loads.
"""

from sdsat_lsp.pipeline.backend import (
    BackendInfo,
    BackendStats,
    CompletionBackend,
    TextStream,
)
from sdsat_lsp.pipeline.completion import CompletionOutcome, complete, completion_prompt

__all__ = [
    "BackendInfo",
    "BackendStats",
    "CompletionBackend",
    "CompletionOutcome",
    "TextStream",
    "complete",
    "completion_prompt",
]

"""Decoding engine: strategies ar | sdsat | lookup, streaming text, prefix-KV reuse, worker.

Knows nothing of LSP or tree-sitter; imports only `sdsat_lsp.model` and `sdsat_lsp.config`.
"""

from sdsat_lsp.engine.engine import Engine, EngineInfo, StrategyError, resolve_strategy
from sdsat_lsp.engine.generation import Generation, GenerationRequest, GenerationStats
from sdsat_lsp.engine.worker import CancelToken, CompletionWorker

__all__ = [
    "CancelToken",
    "CompletionWorker",
    "Engine",
    "EngineInfo",
    "Generation",
    "GenerationRequest",
    "GenerationStats",
    "StrategyError",
    "resolve_strategy",
]

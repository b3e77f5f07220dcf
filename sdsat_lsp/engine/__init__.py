"""Decoding engine: strategies ar | sdsat | sdsat-tree | lookup, streaming text, prefix-KV
reuse, worker; forward passes (static compiled path or transformers' forward) in `forward/`.

Knows nothing of LSP or tree-sitter; imports only `sdsat_lsp.model` and `sdsat_lsp.config`.
Names are resolved lazily (PEP 562): the language server imports the worker at start-up and
must answer `initialize` before torch (seconds to import) is loaded on the worker thread.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sdsat_lsp.engine.engine import Engine, EngineInfo, StrategyError, resolve_strategy
    from sdsat_lsp.engine.generation import Generation, GenerationRequest, GenerationStats
    from sdsat_lsp.engine.worker import CancelToken, CompletionWorker

_HOMES = {
    "Engine": "engine",
    "EngineInfo": "engine",
    "StrategyError": "engine",
    "resolve_strategy": "engine",
    "Generation": "generation",
    "GenerationRequest": "generation",
    "GenerationStats": "generation",
    "CancelToken": "worker",
    "CompletionWorker": "worker",
}

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


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)

"""Doctor checks for `backend: openai`: the engine answers, serves the model, and completes.

The same `RemoteBackend` the server uses, so the reason a check gives is the one the editor
would show (docs/remote.md). Never prints the API key: only the variable's name.
"""

from __future__ import annotations

import dataclasses
import time

from sdsat_lsp.config import Settings
from sdsat_lsp.doctor import Check
from sdsat_lsp.doctor.models import TEST_SOURCE, TEST_TOKENS


def engine_checks(settings: Settings, completion: bool = True) -> list[Check]:
    from sdsat_lsp.context import DocumentStore, Position
    from sdsat_lsp.pipeline import complete
    from sdsat_lsp.remote import EngineError, RemoteBackend

    fix = "see docs/remote.md (backendUrl, backendModel, backendApiKeyEnv)"
    try:
        backend = RemoteBackend(dataclasses.replace(settings, max_new_tokens=TEST_TOKENS))
    except EngineError as error:
        return [Check("engine", "fail", str(error), fix)]
    try:
        problem = backend.check()
        if problem is not None:
            return [Check("engine", "fail", problem, fix)]
        info = backend.info
        key = (
            f"; API key from ${settings.backend_api_key_env}"
            if settings.backend_api_key_env
            else ""
        )
        checks = [
            Check("engine", "ok", f"{info.model_name} at {info.device}{key}; {info.tokenizer}")
        ]
        if not completion:
            return checks
        store = DocumentStore()
        store.open("file:///doctor.py", "python", TEST_SOURCE, 0)
        lines = TEST_SOURCE.split("\n")
        position = Position(len(lines) - 1, len(lines[-1]))
        started = time.perf_counter()
        try:
            outcome = complete(
                backend,
                store.get("file:///doctor.py"),
                position,
                backend.settings,
                stop_rules=False,
            )
        except EngineError as error:
            return [*checks, Check("completion", "fail", str(error), fix)]
        stats = outcome.stats or {}
        seconds = time.perf_counter() - started
        summary = (
            f"{stats.get('new_tokens', 0)} tokens in {seconds:.2f} s from the engine; first "
            f"token {stats.get('first_token_ms')} ms; text {outcome.raw_text[:40]!r}"
        )
        return [*checks, Check("completion", "ok", summary, details=dict(stats))]
    finally:
        backend.close()

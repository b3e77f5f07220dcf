"""The model's lifecycle as the server sees it: loading → ready | error, reload on new settings.

Owns the `CompletionWorker` (the one thread that owns the backend) and the status the server
reports (`sdsat/status`). Callbacks run on whichever thread finished the work (usually the
worker); the server makes them thread-safe. Knows nothing of LSP.

With `backend: openai` the worker holds a `RemoteBackend` (no torch is imported): "loading" asks
the engine for its models, and the state then follows the engine: every request that fails
sets `error` with the reason, the next one that gets an answer sets `ready` again, so an engine
that comes back needs no restart and no settings change.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

from sdsat_lsp.config import ENGINE_SETTINGS, Settings, camel_case
from sdsat_lsp.engine.worker import CancelToken, CompletionWorker

if TYPE_CHECKING:  # torch loads on the worker thread, after `initialize` has been answered
    from sdsat_lsp.pipeline.backend import CompletionBackend

logger = logging.getLogger(__name__)

T = TypeVar("T")

LOAD_KEY = "sdsat/model"


@dataclass(frozen=True)
class ModelStatus:
    state: str  # loading | ready | error
    model: str
    device: str = ""
    dtype: str = ""
    strategy: str = ""
    k: int = 0
    fim: bool = False
    message: str = ""
    last_latency_ms: float | None = None
    context_length: int | None = None  # the model's positions (max_position_embeddings)
    forward: str = ""  # what runs the forward passes, and why (engine/forward/select.py)
    backend: str = "local"  # local | openai (a remote engine: `device` is its URL)

    def to_wire(self) -> dict[str, Any]:
        return {camel_case(name): value for name, value in asdict(self).items()}


class ModelHost:
    def __init__(
        self,
        on_status: Callable[[ModelStatus], None],
        on_progress: Callable[[str], None],
    ) -> None:
        self._on_status = on_status
        self._on_progress = on_progress
        self._lock = threading.Lock()
        self._worker: CompletionWorker | None = None
        self._settings: Settings | None = None
        self._loads = 0  # a load's callbacks only count while it is the latest
        self._status = ModelStatus(state="loading", model="")

    @property
    def status(self) -> ModelStatus:
        return self._status

    @property
    def ready(self) -> bool:
        return self._status.state == "ready"

    @property
    def refuses_completions(self) -> bool:
        """A local model that failed to load stays failed until the settings change; a remote
        engine in error is still asked (that is how its recovery is noticed)."""
        return self._status.state == "error" and self._status.backend == "local"

    def needs_reload(self, settings: Settings) -> bool:
        if self._settings is None:
            return True
        return any(getattr(settings, n) != getattr(self._settings, n) for n in ENGINE_SETTINGS)

    def load(self, settings: Settings) -> Future[ModelStatus]:
        """(Re)load the model on the worker. The future gives the status after it; never raises."""
        with self._lock:
            self._loads += 1
            load_number = self._loads
            self._settings = settings
        backend = settings.backend
        self._set_status(ModelStatus(state="loading", model=settings.model, backend=backend))

        def progress(message: str) -> None:
            if load_number == self._loads:
                self._on_progress(message)

        def engine_health(reason: str | None) -> None:
            if load_number == self._loads and self._status.state != "loading":
                self._engine_health(reason)

        def load_engine() -> CompletionBackend:
            if backend != "local":
                from sdsat_lsp.remote import RemoteBackend

                progress("connecting to the inference engine")  # the URL may hold a secret
                return RemoteBackend(settings, on_health=engine_health)
            from sdsat_lsp.engine.engine import Engine

            return Engine.load(settings, progress=progress)

        if self._worker is None:
            self._worker = CompletionWorker(load_engine)
        else:
            self._worker.reload(load_engine)

        def engine_info(engine: CompletionBackend, token: CancelToken) -> LoadResult:
            check = getattr(engine, "check", None)  # a remote engine: is it there?
            problem = check() if callable(check) else None
            return engine.info, model_context_length(engine), problem

        result: Future[ModelStatus] = Future()
        loaded = self._worker.submit(LOAD_KEY, engine_info)

        def finish(future: Future[LoadResult]) -> None:
            status = status_after_load(settings.model, future, backend)
            if load_number == self._loads:
                self._set_status(status)
            result.set_result(status)

        loaded.add_done_callback(finish)
        return result

    def submit(self, key: str, job: Callable[[CompletionBackend, CancelToken], T]) -> Future[T]:
        if self._worker is None:
            raise RuntimeError("the model host has not been started")
        return self._worker.submit(key, job)

    def record_latency(self, total_ms: float) -> None:
        self._set_status(replace(self._status, last_latency_ms=round(total_ms, 1)))

    def shutdown(self, timeout: float = 5.0) -> None:
        """Cancel the running job and stop the worker (idempotent; waits at most `timeout`)."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.shutdown(timeout)

    def _engine_health(self, reason: str | None) -> None:
        """A remote engine answered (None) or failed (the reason): report changes only."""
        status = self._status
        if reason is None and status.state != "ready":
            self._set_status(replace(status, state="ready", message=""))
        elif reason is not None and (status.state, status.message) != ("error", reason):
            self._set_status(replace(status, state="error", message=reason))

    def _set_status(self, status: ModelStatus) -> None:
        last = self._status.last_latency_ms
        self._status = replace(status, last_latency_ms=status.last_latency_ms or last)
        self._on_status(self._status)


def model_context_length(engine: CompletionBackend) -> int | None:
    remote = getattr(engine, "context_length", None)  # what a remote engine reported
    if isinstance(remote, int) and remote > 0:
        return remote
    config = getattr(getattr(getattr(engine, "loaded", None), "model", None), "config", None)
    value = getattr(config, "max_position_embeddings", None)
    return value if isinstance(value, int) and value > 0 else None


# What the load job hands back: the backend's info, its context length, and (a remote
# engine) why it cannot answer now, or None.
LoadResult = tuple[Any, int | None, str | None]


def status_after_load(
    model: str, future: Future[LoadResult], backend: str = "local"
) -> ModelStatus:
    if future.cancelled():
        return ModelStatus(
            state="error", model=model, message="model loading was cancelled", backend=backend
        )
    error = future.exception()
    if error is not None:
        logger.error("model %s failed to load: %s", model, error)
        message = str(error) or type(error).__name__
        return ModelStatus(state="error", model=model, message=message, backend=backend)
    info, context_length, problem = future.result()
    return ModelStatus(
        state="error" if problem else "ready",
        model=info.model_name,
        device=info.device,
        dtype=str(getattr(info, "dtype", "")),
        strategy=info.strategy,
        k=info.k,
        fim=info.fim,
        message=problem or "",
        context_length=context_length,
        forward=str(getattr(info, "forward", "")),
        backend=backend,
    )

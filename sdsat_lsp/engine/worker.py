"""One worker thread owns the backend (the local Engine, or a remote engine's client); jobs are
keyed (by document) and the latest wins.

Submitting a job for a key cancels the older job with that key: a queued one is dropped
without running (its future is cancelled), a running one sees its CancelToken set and stops
before its next forward pass. The event loop never waits on the model.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:  # the worker itself must not import torch (see engine/__init__)
    from sdsat_lsp.pipeline.backend import CompletionBackend

log = logging.getLogger(__name__)
T = TypeVar("T")


class CancelToken:
    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def __call__(self) -> bool:
        return self._event.is_set()


@dataclass
class _Job(Generic[T]):
    key: str
    run: Callable[[CompletionBackend, CancelToken], T]
    future: concurrent.futures.Future[T] = field(default_factory=concurrent.futures.Future)
    token: CancelToken = field(default_factory=CancelToken)


_STOP = object()


def close_backend(backend: object) -> None:
    """Release what a backend holds beyond memory (a remote one's connections and thread)."""
    close = getattr(backend, "close", None)
    if callable(close):
        try:
            close()
        except Exception:
            log.exception("closing the backend failed")


class CompletionWorker:
    def __init__(self, load: Callable[[], CompletionBackend]) -> None:
        self._load = load
        self._engine: CompletionBackend | None = None
        self._load_error: BaseException | None = None
        self._queue: queue.Queue[Any] = queue.Queue()
        self._latest: dict[str, _Job[Any]] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="sdsat-engine", daemon=True)
        self._thread.start()

    def submit(
        self, key: str, job: Callable[[CompletionBackend, CancelToken], T]
    ) -> concurrent.futures.Future[T]:
        entry: _Job[T] = _Job(key, job)
        with self._lock:
            older = self._latest.get(key)
            self._latest[key] = entry
        if older is not None:
            older.token.cancel()
            older.future.cancel()  # succeeds only while it is still queued
        self._queue.put(entry)
        return entry.future

    def call(
        self, job: Callable[[CompletionBackend, CancelToken], T]
    ) -> concurrent.futures.Future[T]:
        """Run a job that no later job supersedes (status queries, benchmarks)."""
        entry: _Job[T] = _Job("", job)
        self._queue.put(entry)
        return entry.future

    def reload(self, load: Callable[[], CompletionBackend]) -> None:
        """Swap in a new loader; the next job loads with it (after queued jobs finish)."""

        def swap() -> None:
            self._load = load
            close_backend(self._engine)
            self._engine = None
            self._load_error = None

        self._queue.put(swap)

    def shutdown(self, timeout: float = 5.0) -> None:
        with self._lock:
            for job in self._latest.values():
                job.token.cancel()
        self._queue.put(_STOP)
        self._thread.join(timeout=timeout)
        if not self._thread.is_alive():
            close_backend(self._engine)

    def engine(self) -> CompletionBackend:
        """Only from inside a job (the worker thread): the loaded engine, loading on first use."""
        if self._engine is None:
            if self._load_error is not None:
                raise self._load_error
            try:
                self._engine = self._load()
            except BaseException as error:
                self._load_error = error
                raise
        return self._engine

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if callable(item) and not isinstance(item, _Job):
                item()
                continue
            job: _Job[Any] = item
            if not job.future.set_running_or_notify_cancel():
                continue  # superseded while queued: no model work at all
            try:
                result = job.run(self.engine(), job.token)
            except BaseException as error:
                job.future.set_exception(error)
            else:
                job.future.set_result(result)
            finally:
                with self._lock:
                    if self._latest.get(job.key) is job:
                        del self._latest[job.key]

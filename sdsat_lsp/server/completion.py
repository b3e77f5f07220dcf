"""One completion as a job on the engine's worker thread, through the completion pipeline.

The event loop creates a `CompletionTicket` (the request, the document store, the cancel flags)
and submits `run_completion` to the `CompletionWorker`; the job runs `sdsat_lsp.pipeline.complete`
(prompt → encode → stream → finalize), streams the text so far through `send_text` (which must
be thread-safe), fills the latency record and returns a `CompletionResult`. Nothing here knows
LSP types.

Documents are live objects with caches (lazy incremental parse, snippet index) that should
survive between requests, so the job reads the live `DocumentStore` rather than a copy: the
event loop edits documents only while holding `documents_lock`, and the job holds it while it
builds the prompt (milliseconds). A document whose version moved on since the request is not
completed at all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sdsat_lsp.config import Settings
from sdsat_lsp.context import DocumentStore, Position
from sdsat_lsp.engine.worker import CancelToken
from sdsat_lsp.pipeline import complete
from sdsat_lsp.server.latency import LatencyRecord

if TYPE_CHECKING:  # torch loads on the worker thread, after `initialize` has been answered
    from sdsat_lsp.pipeline.backend import CompletionBackend


def elapsed_ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000.0


@dataclass
class CompletionTicket:
    """A request in flight, shared by the event loop (which cancels) and the worker (which runs).

    `received` is `time.perf_counter()` when the request arrived; every `*_ms` field of the
    record counts from it, except the engine's own stage timings.
    """

    request_id: int | str | None
    uri: str
    version: int
    position: Position
    settings: Settings
    received: float
    documents: DocumentStore
    documents_lock: threading.Lock
    client_cancelled: threading.Event = field(default_factory=threading.Event)  # $/cancelRequest
    superseded: threading.Event = field(default_factory=threading.Event)  # newer request, same uri
    stale: threading.Event = field(default_factory=threading.Event)  # the document changed
    record: LatencyRecord = field(init=False)
    worker_token: CancelToken | None = None
    alternatives: int = 1  # completions to return: settings.alternatives on a manual trigger

    def __post_init__(self) -> None:
        self.record = LatencyRecord(request_id=self.request_id, uri=self.uri, version=self.version)

    def cancelled(self) -> bool:
        """True once superseded, cancelled by the client or the worker, or made stale."""
        token = self.worker_token
        return (
            self.client_cancelled.is_set()
            or self.superseded.is_set()
            or self.stale.is_set()
            or (token is not None and token.cancelled)
        )


@dataclass(frozen=True)
class CompletionResult:
    text: str
    finish_reason: str  # eos | length | stop | cancelled | none (no completion makes sense here)
    alternatives: tuple[str, ...] = ()  # more completions after `text` (sampling), likeliest first


def run_completion(
    engine: CompletionBackend,
    token: CancelToken,
    ticket: CompletionTicket,
    send_text: Callable[[str], None],
) -> CompletionResult:
    """Runs on the worker thread. `send_text(text_so_far)` is called as text is accepted."""
    record = ticket.record
    ticket.worker_token = token
    record.queue_wait_ms = elapsed_ms(ticket.received)
    if ticket.cancelled():  # superseded while queued: no engine work at all
        return CompletionResult("", "cancelled")

    with ticket.documents_lock:
        document = ticket.documents.get(ticket.uri) if ticket.uri in ticket.documents else None
        if document is None or document.version != ticket.version:
            ticket.stale.set()  # closed or edited since the request: nothing to complete
            return CompletionResult("", "cancelled")
        others = [d for d in ticket.documents.documents() if d.uri != ticket.uri]
    record.backend = str(getattr(engine.info, "backend", "local"))
    # An edit from here on marks the ticket stale before it changes the document, so the
    # pipeline's cancellation check after the prompt catches it.
    outcome = complete(
        engine,
        document,
        ticket.position,
        ticket.settings,
        other_documents=others,
        documents_lock=ticket.documents_lock,
        cancelled=ticket.cancelled,
        on_text=send_text,
        alternatives=ticket.alternatives,
    )
    record.context_ms = outcome.prompt_ms
    record.encode_ms = outcome.encode_ms
    record.generate_ms = outcome.generate_ms
    record.shape = outcome.prompt.shape.name.lower()
    record.strategy = engine.info.strategy
    record.k = engine.info.k
    if outcome.stats is not None:
        record.add_engine_stats(outcome.stats)
    record.finish_reason = outcome.finish_reason
    if ticket.settings.log_level == "debug":
        prefix_tail = outcome.prompt.prefix[-200:]
        record.debug = {"prompt_prefix_tail": prefix_tail, "raw_text": outcome.raw_text}
    return CompletionResult(outcome.text, outcome.finish_reason, outcome.alternatives)

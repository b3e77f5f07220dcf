"""One completion as a job on the engine's worker thread: prompt → encode → stream → finalize.

The event loop creates a `CompletionTicket` (the request, the document store, the cancel flags)
and submits `run_completion` to the `CompletionWorker`; the job streams the text so far through
`send_text` (which must be thread-safe) and returns a `CompletionResult`. Nothing here knows LSP
types.

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
from sdsat_lsp.context import DocumentStore, Position, Shape, build_prompt
from sdsat_lsp.engine.worker import CancelToken
from sdsat_lsp.server.latency import LatencyRecord

if TYPE_CHECKING:  # torch loads on the worker thread, after `initialize` has been answered
    from sdsat_lsp.engine import Engine


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


def run_completion(
    engine: Engine,
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
    settings = ticket.settings

    started = time.perf_counter()
    with ticket.documents_lock:
        document = ticket.documents.get(ticket.uri) if ticket.uri in ticket.documents else None
        if document is None or document.version != ticket.version:
            ticket.stale.set()  # closed or edited since the request: nothing to complete
            return CompletionResult("", "cancelled")
        others = [d for d in ticket.documents.documents() if d.uri != ticket.uri]
        prompt = build_prompt(
            document,
            ticket.position,
            budget_tokens=settings.context_tokens,
            count_tokens=engine.count_tokens,
            fim=engine.info.fim,
            other_documents=others,
        )
    record.context_ms = elapsed_ms(started)
    record.shape = getattr(prompt.shape, "name", str(prompt.shape)).lower()
    record.strategy = engine.info.strategy
    record.k = engine.info.k
    if prompt.shape == Shape.NONE:
        record.finish_reason = "none"
        return CompletionResult("", "none")
    if ticket.cancelled():
        return CompletionResult("", "cancelled")

    started = time.perf_counter()
    prompt_ids = engine.encode_prompt(prompt.prefix, prompt.suffix)
    record.encode_ms = elapsed_ms(started)

    started = time.perf_counter()
    generation = engine.generate(
        prompt_ids,
        max_new_tokens=settings.max_new_tokens,
        stop=prompt.stop.check,
        cancelled=ticket.cancelled,
        strategy=None if settings.strategy == "auto" else settings.strategy,
        k=settings.k or None,
        reuse_prefix=settings.prefix_reuse,
    )
    raw = ""
    shown = ""
    for delta in generation:
        raw += delta
        # The ghost text is the stop rule's view of the raw text (cursor whitespace aligned,
        # leading blank lines dropped), never the raw deltas.
        visible = prompt.stop.visible(raw)
        if visible != shown and not ticket.cancelled():
            shown = visible
            send_text(visible)
    record.generate_ms = elapsed_ms(started)
    record.add_engine_stats(generation.stats.to_dict())
    record.finish_reason = generation.finish_reason
    if settings.log_level == "debug":
        record.debug = {"prompt_prefix_tail": prompt.prefix[-200:], "raw_text": generation.text}
    if generation.finish_reason == "cancelled":
        return CompletionResult("", "cancelled")
    return CompletionResult(prompt.stop.finalize(generation.text), generation.finish_reason)

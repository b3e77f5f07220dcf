"""The language server: pygls wiring, thin handlers, streaming, status, latency lines.

Handlers translate LSP types to a domain call and back. Model work happens on the engine's one
worker thread (`ModelHost`); the event loop only snapshots documents, submits jobs, and sends
what the worker hands back through `loop.call_soon_threadsafe`. This module knows no torch and
no prompt layout: that is `engine` and `context`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcContentModified
from pygls.lsp.server import LanguageServer

from sdsat_lsp import __version__
from sdsat_lsp.config import Settings, settings_from_wire
from sdsat_lsp.context import DocumentStore, InvalidPosition, Position, Range, TextChange
from sdsat_lsp.server.completion import (
    CompletionResult,
    CompletionTicket,
    elapsed_ms,
    run_completion,
)
from sdsat_lsp.server.latency import LOG_PREFIX, LatencyLog, LatencyRecord, format_record
from sdsat_lsp.server.model_host import ModelHost, ModelStatus
from sdsat_lsp.server.protocol import SdsatProtocol

logger = logging.getLogger(__name__)

SERVER_NAME = "sdsat-lsp"
DELTA_METHOD = "sdsat/completionDelta"
STATUS_METHOD = "sdsat/status"
SETTINGS_SECTION = "sdsat"


def wire_options(options: Any) -> Any:
    """The settings object inside `{"settings": {"sdsat": {...}}}`, `{"sdsat": {...}}` or itself."""
    if isinstance(options, Mapping) and set(options) == {"settings"}:
        options = options["settings"]
    if isinstance(options, Mapping) and isinstance(options.get(SETTINGS_SECTION), Mapping):
        options = options[SETTINGS_SECTION]
    return options


def to_context_position(position: types.Position) -> Position:
    return Position(line=position.line, character=position.character)


def to_text_change(change: types.TextDocumentContentChangeEvent) -> TextChange:
    if isinstance(change, types.TextDocumentContentChangePartial):
        start, end = change.range.start, change.range.end
        span = Range(start=to_context_position(start), end=to_context_position(end))
        return TextChange(range=span, text=change.text)
    return TextChange(range=None, text=change.text)


class SdsatServer(LanguageServer):
    """Server state: settings, documents, the model host, in-flight completions."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            SERVER_NAME,
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=SdsatProtocol,
        )
        self.base_settings = settings
        self.settings = settings
        self.documents = DocumentStore()
        # Held by the event loop while it edits documents and by the worker while it builds a
        # prompt from them (see completion.py).
        self.documents_lock = threading.Lock()
        self.latency_log = LatencyLog()
        self.model = ModelHost(
            on_status=self.threadsafe(self.status_changed),
            on_progress=self.threadsafe(self.progress_message),
        )
        self.in_flight: dict[str, CompletionTicket] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.progress_token: str | None = None
        self._progress_tokens = itertools.count(1)
        self._shown_model_error = ""
        self._log_file_setting: str | None = None
        self.pending_problems: list[str] = []  # from initializationOptions, shown when initialized

    # -- threads ---------------------------------------------------------------------------

    def threadsafe(self, function: Callable[..., None]) -> Callable[..., None]:
        """Wrap `function` so that any thread may call it; it runs on the event loop."""

        @functools.wraps(function)
        def schedule(*args: Any) -> None:
            loop = self.loop
            if loop is None or loop.is_closed():
                return
            with contextlib.suppress(RuntimeError):  # the loop closed since the check
                loop.call_soon_threadsafe(function, *args)

        return schedule

    # -- settings and model ----------------------------------------------------------------

    def apply_settings(self, options: Any, *, base: Settings) -> None:
        settings, problems = settings_from_wire(wire_options(options), base)
        self.report_problems(problems)
        self.use_settings(settings)

    def report_problems(self, problems: list[str]) -> None:
        if problems:
            message = "sdsat-lsp: ignored invalid settings: " + "; ".join(problems)
            logger.warning("%s", message)
            self.show_message(message, types.MessageType.Warning)

    def use_settings(self, settings: Settings) -> None:
        self.settings = settings
        logging.getLogger("sdsat_lsp").setLevel(settings.log_level.upper())
        if settings.log_file != self._log_file_setting:
            self._log_file_setting = settings.log_file
            if (problem := self.latency_log.open(settings.log_file)) is not None:
                self.show_message(f"sdsat-lsp: {problem}", types.MessageType.Warning)
        if self.model.needs_reload(settings):
            self.load_model()

    def load_model(self) -> None:
        self._shown_model_error = ""
        loaded = self.model.load(self.settings)
        if self.loop is not None and self.client_supports_progress():
            self.loop.create_task(self.report_loading(loaded))

    def client_supports_progress(self) -> bool:
        try:
            window = self.client_capabilities.window
        except AttributeError:  # before initialize
            return False
        return bool(window and window.work_done_progress)

    async def report_loading(self, loaded: Future[ModelStatus]) -> None:
        token = f"sdsat-model-{next(self._progress_tokens)}"
        try:
            await self.work_done_progress.create_async(token)
        except Exception as error:  # a client that refuses progress still gets sdsat/status
            logger.info("work-done progress refused: %s", error)
            return
        self.progress_token = token
        self.work_done_progress.begin(
            token, types.WorkDoneProgressBegin(title="sdsat-lsp", message="loading model")
        )
        status = await asyncio.wrap_future(loaded)
        if self.progress_token == token:
            self.progress_token = None
        message = "model ready" if status.state == "ready" else f"model failed: {status.message}"
        self.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message))

    def progress_message(self, message: str) -> None:
        if self.progress_token is not None:
            self.work_done_progress.report(
                self.progress_token, types.WorkDoneProgressReport(message=message)
            )

    def status_changed(self, status: ModelStatus) -> None:
        self.protocol.notify(STATUS_METHOD, status.to_wire())
        if status.state == "error" and status.message != self._shown_model_error:
            self._shown_model_error = status.message
            self.show_message(
                f"sdsat-lsp: model {status.model!r} did not load: {status.message}. "
                "Completions are off until a settings change loads a model.",
                types.MessageType.Error,
            )

    def show_message(self, message: str, kind: types.MessageType) -> None:
        self.window_show_message(types.ShowMessageParams(type=kind, message=message))

    # -- documents ---------------------------------------------------------------------------

    def mark_stale(self, uri: str) -> None:
        if (ticket := self.in_flight.get(uri)) is not None:
            ticket.stale.set()

    # -- completion --------------------------------------------------------------------------

    async def complete(self, params: types.InlineCompletionParams) -> types.InlineCompletionList:
        received = time.perf_counter()
        request_id = self.protocol.msg_id
        uri = params.text_document.uri
        empty = types.InlineCompletionList(items=[])
        try:
            document = self.documents.get(uri)
        except KeyError:
            self.reject(request_id, uri, -1, received, "document is not open")
            return empty
        position = to_context_position(params.position)
        logger.debug("completion %s at %s v%s", request_id, position, document.version)
        try:
            document.offset_at(position)
        except InvalidPosition as error:
            self.reject(request_id, uri, document.version, received, f"bad position: {error}")
            return empty
        if self.model.status.state == "error":
            message = f"model not loaded: {self.model.status.message}"
            self.reject(request_id, uri, document.version, received, message)
            return empty

        ticket = CompletionTicket(
            request_id,
            uri,
            document.version,
            position,
            self.settings,
            received,
            self.documents,
            self.documents_lock,
        )
        if (older := self.in_flight.get(uri)) is not None:
            older.superseded.set()  # the worker also cancels it when the new job is submitted
        self.in_flight[uri] = ticket
        send_text = self.threadsafe(functools.partial(self.send_delta, ticket, params.position))
        job = functools.partial(run_completion, ticket=ticket, send_text=send_text)
        finished = asyncio.wrap_future(self.model.submit(uri, job))
        try:
            result = await self.settle(ticket, finished)
        finally:
            if self.in_flight.get(uri) is ticket:
                del self.in_flight[uri]
        return self.answer(ticket, result, params.position)

    async def settle(
        self, ticket: CompletionTicket, finished: asyncio.Future[CompletionResult]
    ) -> CompletionResult | BaseException:
        """Wait for the job; a client cancel stops the engine, then waits for the job to end."""
        try:
            return await asyncio.shield(finished)
        except asyncio.CancelledError as cancelled:
            if finished.cancelled():  # superseded while still queued: the engine never saw it
                return cancelled
            ticket.client_cancelled.set()  # $/cancelRequest (pygls cancelled this task)
            try:
                await finished
            except BaseException as error:
                self.finish(ticket, error)
            else:
                self.finish(ticket, CompletionResult("", "cancelled"))
            raise
        except Exception as error:
            return error

    def answer(
        self,
        ticket: CompletionTicket,
        result: CompletionResult | BaseException,
        position: types.Position,
    ) -> types.InlineCompletionList:
        outcome = self.finish(ticket, result)
        if outcome == "cancelled":
            raise asyncio.CancelledError()  # pygls answers RequestCancelled (-32800)
        if outcome == "stale":
            raise JsonRpcContentModified(f"{ticket.uri} changed while completing")
        if outcome == "error" or not isinstance(result, CompletionResult) or not result.text:
            return types.InlineCompletionList(items=[])
        span = types.Range(start=position, end=position)
        return types.InlineCompletionList(
            items=[types.InlineCompletionItem(insert_text=result.text, range=span)]
        )

    def finish(self, ticket: CompletionTicket, result: CompletionResult | BaseException) -> str:
        """Decide the outcome, write the latency line, update the status. Returns the outcome."""
        record = ticket.record
        ended_cancelled = isinstance(result, asyncio.CancelledError) or (
            isinstance(result, CompletionResult) and result.finish_reason == "cancelled"
        )
        if isinstance(result, BaseException) and not ended_cancelled:
            record.outcome = "error"
            record.error = f"{type(result).__name__}: {result}"
            logger.error("completion %s failed", ticket.request_id, exc_info=result)
        elif ticket.client_cancelled.is_set() or ticket.superseded.is_set():
            record.outcome = "cancelled"
        elif ticket.stale.is_set() or self.current_version(ticket.uri) != ticket.version:
            record.outcome = "stale"
        elif ended_cancelled:
            record.outcome = "cancelled"
        else:
            record.outcome = "done"
        record.total_ms = elapsed_ms(ticket.received)
        self.write_record(record)
        if record.outcome == "done":
            self.model.record_latency(record.total_ms)
        return record.outcome

    def current_version(self, uri: str) -> int | None:
        try:
            return self.documents.get(uri).version
        except KeyError:
            return None

    def reject(self, request_id: Any, uri: str, version: int, received: float, reason: str) -> None:
        logger.info("completion %s for %s: empty (%s)", request_id, uri, reason)
        record = LatencyRecord(request_id=request_id, uri=uri, version=version, outcome="error")
        record.error = reason
        record.total_ms = elapsed_ms(received)
        self.write_record(record)

    def write_record(self, record: LatencyRecord) -> None:
        line = format_record(record, include_text=self.settings.log_level == "debug")
        self.window_log_message(
            types.LogMessageParams(type=types.MessageType.Log, message=LOG_PREFIX + line)
        )
        self.latency_log.write(line)

    def send_delta(self, ticket: CompletionTicket, position: types.Position, text: str) -> None:
        """On the event loop: stream the text so far, unless the request is already over."""
        if ticket.cancelled():
            return
        if ticket.record.first_delta_ms is None:
            ticket.record.first_delta_ms = round(elapsed_ms(ticket.received), 2)
        self.protocol.notify(
            DELTA_METHOD,
            {
                "id": ticket.request_id,
                "uri": ticket.uri,
                "version": ticket.version,
                "position": {"line": position.line, "character": position.character},
                "text": text,
            },
        )


def build_server(settings: Settings) -> SdsatServer:
    """The server with its handlers registered; start it with `start_io()` or `start_tcp()`."""
    server = SdsatServer(settings)

    @server.feature(types.INITIALIZE)
    def initialize(ls: SdsatServer, params: types.InitializeParams) -> None:
        ls.loop = asyncio.get_running_loop()
        ls.base_settings, problems = settings_from_wire(
            wire_options(params.initialization_options), ls.base_settings
        )
        ls.pending_problems = problems

    @server.feature(types.INITIALIZED)
    def initialized(ls: SdsatServer, params: types.InitializedParams) -> None:
        ls.report_problems(ls.pending_problems)
        ls.use_settings(ls.base_settings)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(
        ls: SdsatServer, params: types.DidChangeConfigurationParams
    ) -> None:
        ls.apply_settings(params.settings, base=ls.base_settings)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: SdsatServer, params: types.DidOpenTextDocumentParams) -> None:
        item = params.text_document
        ls.mark_stale(item.uri)
        with ls.documents_lock:
            ls.documents.open(item.uri, item.language_id, item.text, item.version)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: SdsatServer, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        logger.debug("didChange %s v%s", uri, params.text_document.version)
        ls.mark_stale(uri)
        changes = [to_text_change(change) for change in params.content_changes]
        try:
            with ls.documents_lock:
                ls.documents.change(uri, params.text_document.version, changes)
        except Exception as error:  # never opened, or a range past the end
            logger.warning("didChange for %s ignored: %s", uri, error)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: SdsatServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.mark_stale(uri)
        with ls.documents_lock:
            ls.documents.close(uri)

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(
        ls: SdsatServer, params: types.InlineCompletionParams
    ) -> types.InlineCompletionList:
        return await ls.complete(params)

    @server.feature(STATUS_METHOD)
    def status(ls: SdsatServer, params: Any) -> dict[str, Any]:
        return ls.model.status.to_wire()

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: SdsatServer, params: Any) -> None:
        for ticket in ls.in_flight.values():
            ticket.client_cancelled.set()
        ls.model.shutdown()

    return server

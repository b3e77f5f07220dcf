"""The language server: pygls wiring, thin handlers, streaming, status, latency lines.

Handlers translate LSP types to a domain call and back. Model work happens on the engine's one
worker thread (`ModelHost`); the event loop only snapshots documents, submits jobs, and sends
what the worker hands back through `loop.call_soon_threadsafe`. This module knows no torch and
no prompt layout: that is `engine` and `context`.

The byte stream is ours, not pygls': `transport.read_frames` frames and decodes on a reader
thread and `transport.Output` writes on a writer thread, so neither a bad frame nor a client
that stops reading can stall the loop (see `serve_fd`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import gc
import itertools
import logging
import os
import resource
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any, BinaryIO

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
from sdsat_lsp.server.documents import DocumentEditor
from sdsat_lsp.server.latency import LOG_PREFIX, LatencyLog, LatencyRecord, format_record
from sdsat_lsp.server.model_host import ModelHost, ModelStatus
from sdsat_lsp.server.protocol import SdsatProtocol
from sdsat_lsp.server.transport import Output, RpcError, read_frames

logger = logging.getLogger(__name__)

SERVER_NAME = "sdsat-lsp"
DELTA_METHOD = "sdsat/completionDelta"
STATUS_METHOD = "sdsat/status"
HEALTH_METHOD = "sdsat/health"
SETTINGS_SECTION = "sdsat"
EXIT_SECONDS = 0.8  # from `exit` (or the client going away) to the process ending, at most
LAG_TICK_SECONDS = 0.005


def wants_append_deltas(capabilities: types.ClientCapabilities | None) -> bool:
    """`capabilities.experimental.sdsat.completionDelta == "append"` opts into the append form."""
    experimental = getattr(capabilities, "experimental", None)
    section = experimental.get(SETTINGS_SECTION) if isinstance(experimental, Mapping) else None
    return isinstance(section, Mapping) and section.get("completionDelta") == "append"


def rss_bytes() -> int:
    """Resident memory of this process (Linux /proc; the peak elsewhere)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


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

    protocol: SdsatProtocol

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
        self.editor: DocumentEditor | None = None  # made on the event loop (serve_fd)
        self._reported_documents: dict[str, str] = {}
        self._shown_settings_problem = ""
        self.max_loop_lag_ms = 0.0
        self.latency_log = LatencyLog()
        self.model = ModelHost(
            on_status=self.threadsafe(self.status_changed),
            on_progress=self.threadsafe(self.progress_message),
        )
        self.in_flight: dict[str, CompletionTicket] = {}
        # Per document, the arrival number of its newest completion request: a request that
        # waited (for its edits to apply) must not supersede one that arrived after it.
        self.newest_request: dict[str, int] = {}
        self._arrivals = itertools.count()
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
        self.check_against_model()
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

    def completion_settings(self) -> tuple[Settings, str]:
        """The settings a completion runs with: the prompt and the completion must fit the
        model's positions. Returns them and the problem ("" when the settings fit)."""
        settings = self.settings
        limit = self.model.status.context_length
        if not limit or settings.context_tokens + settings.max_new_tokens <= limit:
            return settings, ""
        new_tokens = min(settings.max_new_tokens, limit // 2)
        context = max(1, min(settings.context_tokens, limit - new_tokens))
        problem = (
            f"contextTokens={settings.context_tokens} + maxNewTokens={settings.max_new_tokens} "
            f"exceed the model's context length {limit}: using contextTokens={context}, "
            f"maxNewTokens={new_tokens}"
        )
        fitted = dataclasses.replace(settings, context_tokens=context, max_new_tokens=new_tokens)
        return fitted, problem

    def check_against_model(self) -> None:
        """Warn once per distinct problem when the settings do not fit the loaded model."""
        _, problem = self.completion_settings()
        if problem and problem != self._shown_settings_problem:
            logger.warning("%s", problem)
            self.show_message(f"sdsat-lsp: {problem}", types.MessageType.Warning)
        self._shown_settings_problem = problem

    def status_changed(self, status: ModelStatus) -> None:
        self.protocol.notify(STATUS_METHOD, status.to_wire())
        if status.state == "ready":
            self.check_against_model()
        if status.backend != "local":
            self.engine_state_changed(status)
            return
        if status.state == "error" and status.message != self._shown_model_error:
            self._shown_model_error = status.message
            self.show_message(
                f"sdsat-lsp: model {status.model!r} did not load: {status.message}. "
                "Completions are off until a settings change loads a model.",
                types.MessageType.Error,
            )

    def engine_state_changed(self, status: ModelStatus) -> None:
        """A remote engine: one Error message per outage (the status carries each reason)."""
        if status.state == "ready":
            self._shown_model_error = ""
        elif status.state == "error" and not self._shown_model_error:
            self._shown_model_error = status.message
            self.show_message(
                f"sdsat-lsp: inference engine: {status.message}. Completions are empty until "
                "it answers again; no restart needed.",
                types.MessageType.Error,
            )

    def show_message(self, message: str, kind: types.MessageType) -> None:
        self.window_show_message(types.ShowMessageParams(type=kind, message=message))

    # -- documents ---------------------------------------------------------------------------

    def edit_documents(self) -> DocumentEditor:
        if self.editor is None:  # handlers called without serve_fd (in-process use)
            self.editor = DocumentEditor(self.documents, self.documents_lock, self.report_document)
        return self.editor

    def mark_stale(self, uri: str) -> None:
        if (ticket := self.in_flight.get(uri)) is not None:
            ticket.stale.set()

    def report_document(self, uri: str, problem: str) -> None:
        """Log a document problem, and tell the user once per document and problem."""
        logger.warning("document %s: %s", uri, problem)
        if self._reported_documents.get(uri) == problem:
            return
        self._reported_documents[uri] = problem
        while len(self._reported_documents) > 1000:
            del self._reported_documents[next(iter(self._reported_documents))]
        self.show_message(f"sdsat-lsp: {uri}: {problem}", types.MessageType.Warning)

    def repair_did_open(self, data: dict[str, Any]) -> dict[str, Any]:
        """A didOpen whose languageId is not a string still opens (as plain text), reported."""
        if data.get("method") != types.TEXT_DOCUMENT_DID_OPEN:
            return data
        params = data.get("params")
        item = params.get("textDocument") if isinstance(params, dict) else None
        if not isinstance(item, dict) or isinstance(item.get("languageId"), str):
            return data
        uri = item.get("uri")
        if isinstance(uri, str):
            self.report_document(uri, f"languageId {item.get('languageId')!r} is not a string")
        assert isinstance(params, dict)
        item = {**item, "languageId": ""}
        return {**data, "params": {**params, "textDocument": item}}

    def rejected(self, data: dict[str, Any], detail: str) -> None:
        """A message pygls could not structure; a didOpen's document is remembered as such."""
        if data.get("method") != types.TEXT_DOCUMENT_DID_OPEN or self.editor is None:
            return
        params = data.get("params")
        item = params.get("textDocument") if isinstance(params, dict) else None
        uri = item.get("uri") if isinstance(item, dict) else None
        if isinstance(uri, str):
            self.editor.unopenable[uri] = f"malformed didOpen ({detail})"[:300]
            self.report_document(uri, f"not opened: malformed didOpen ({detail})"[:300])

    # -- health ------------------------------------------------------------------------------

    async def watch_loop_lag(self) -> None:
        """Record how late the loop runs a timer: the longest stall since the last health call."""
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(LAG_TICK_SECONDS)
            lag = (loop.time() - before - LAG_TICK_SECONDS) * 1000.0
            self.max_loop_lag_ms = max(self.max_loop_lag_ms, lag)

    def health(self) -> dict[str, Any]:
        output = self.protocol.output
        report = {
            "rssBytes": rss_bytes(),
            "maxLoopLagMs": round(self.max_loop_lag_ms, 2),
            "documents": len(self.documents.documents()),
            "pendingEdits": self.editor.pending if self.editor is not None else 0,
            "inFlight": len(self.in_flight),
            "requestFutures": len(self.protocol._request_futures),
            "outputQueue": output.depth() if output is not None else 0,
            "droppedNotifications": output.dropped if output is not None else 0,
            "coalescedDeltas": output.coalesced if output is not None else 0,
        }
        self.max_loop_lag_ms = 0.0
        return report

    # -- the connection ------------------------------------------------------------------------

    def start_io(self, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
        """Serve LSP over stdin/stdout until `exit` or EOF; exits non-zero as the spec says."""
        stdin = stdin or sys.stdin.buffer
        stdout = stdout or sys.stdout.buffer

        def write(data: bytes) -> None:
            stdout.write(data)
            stdout.flush()

        self.finish_process(self.serve_fd(stdin.fileno(), write))

    def start_tcp(self, host: str, port: int) -> None:
        """Serve one client on a TCP socket (loopback by default)."""
        with socket.create_server((host, port)) as listener:
            logger.info("listening on %s:%s", host, port)
            connection, _ = listener.accept()
        with connection:
            self.finish_process(self.serve_fd(connection.fileno(), connection.sendall))

    def finish_process(self, code: int) -> None:
        self.model.shutdown(timeout=EXIT_SECONDS / 2)
        # The interpreter's last collection at exit walks every torch and transformers object
        # (over a second on a 2-core CPU, past the spec's prompt exit); the process ends anyway.
        gc.freeze()
        if code:
            raise SystemExit(code)

    def serve_fd(self, fd: int, write: Callable[[bytes], None]) -> int:
        """Read LSP messages from `fd`, write with `write`; returns the exit code."""
        return asyncio.run(self._serve(fd, write))

    async def _serve(self, fd: int, write: Callable[[bytes], None]) -> int:
        loop = asyncio.get_running_loop()
        self.loop = loop
        ended: asyncio.Future[int] = loop.create_future()

        def end(code: int) -> None:
            if not ended.done():
                ended.set_result(code)

        def end_from_thread(code: int) -> None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(end, code)

        def lost() -> None:  # EOF or a broken pipe: an orderly end only after shutdown
            end_from_thread(0 if self.protocol.lifecycle == "shut down" else 1)

        protocol = self.protocol
        output = Output(write, on_closed=lost, delta_method=DELTA_METHOD)
        protocol.output = output
        protocol.on_exit = end
        protocol.on_raw_message = self.repair_did_open
        protocol.on_rejected = self.rejected
        self.editor = DocumentEditor(self.documents, self.documents_lock, self.report_document)
        stop = threading.Event()

        def deliver(message: dict[str, Any]) -> None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(protocol.dispatch, message)

        def answer(error: RpcError) -> None:
            protocol.send_error(error)

        reader = threading.Thread(
            target=read_frames,
            args=(fd, deliver, answer, lost, stop),
            name="sdsat-input",
            daemon=True,
        )
        reader.start()
        lag = loop.create_task(self.watch_loop_lag())
        try:
            code = await ended
        finally:
            stop.set()
            lag.cancel()
            for ticket in self.in_flight.values():
                ticket.client_cancelled.set()
        await asyncio.to_thread(output.close, EXIT_SECONDS / 2)
        return code

    # -- completion --------------------------------------------------------------------------

    async def complete(self, params: types.InlineCompletionParams) -> types.InlineCompletionList:
        received = time.perf_counter()
        request_id = self.protocol.msg_id
        uri = params.text_document.uri
        arrival = self.newest_request[uri] = next(self._arrivals)  # before any await
        empty = types.InlineCompletionList(items=[])
        if self.editor is not None and self.editor.pending:
            await self.editor.settled()  # edits sent before this request apply first
        try:
            document = self.documents.get(uri)
        except KeyError:
            reason = "document is not open"
            if self.editor is not None and uri in self.editor.unopenable:
                reason = f"document could not be opened: {self.editor.unopenable[uri]}"
            self.reject(request_id, uri, -1, received, reason)
            return empty
        position = to_context_position(params.position)
        logger.debug("completion %s at %s v%s", request_id, position, document.version)
        try:
            document.offset_at(position)
        except InvalidPosition as error:
            self.reject(request_id, uri, document.version, received, f"bad position: {error}")
            return empty
        if self.model.refuses_completions:
            message = f"model not loaded: {self.model.status.message}"
            self.reject(request_id, uri, document.version, received, message)
            return empty

        settings = self.completion_settings()[0]
        # Several items only when the user asked (a manual trigger): typing gets one.
        invoked = params.context.trigger_kind == types.InlineCompletionTriggerKind.Invoked
        ticket = CompletionTicket(
            request_id,
            uri,
            document.version,
            position,
            settings,
            received,
            self.documents,
            self.documents_lock,
            alternatives=settings.alternatives if invoked else 1,
        )
        if self.newest_request.get(uri) != arrival:
            # A later request for this document arrived while this one waited: the later one
            # supersedes it, whichever of the two resumed first (seen in CI: the last request
            # of a typing burst was cancelled by the one before it).
            ticket.superseded.set()
            self.finish(ticket, asyncio.CancelledError())
            raise asyncio.CancelledError()  # pygls answers RequestCancelled (-32800)
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
            if self.newest_request.get(uri) == arrival:
                del self.newest_request[uri]
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
        texts = [result.text, *result.alternatives]
        return types.InlineCompletionList(
            items=[types.InlineCompletionItem(insert_text=text, range=span) for text in texts]
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
            if type(result).__name__ == "EngineError":  # the engine's state, not our bug
                logger.warning("completion %s: %s", ticket.request_id, result)
            else:
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
        """On the event loop: stream the text so far, unless the request is already over.

        The output replaces a still unsent delta of the same request and, for a client that
        opted in, sends only what the client does not have yet (`offset` + `text`)."""
        output = self.protocol.output
        if ticket.cancelled() or output is None or ticket.request_id is None:
            return
        if ticket.record.first_delta_ms is None:
            ticket.record.first_delta_ms = round(elapsed_ms(ticket.received), 2)
        params = {
            "id": ticket.request_id,
            "uri": ticket.uri,
            "version": ticket.version,
            "position": {"line": position.line, "character": position.character},
        }
        output.put_delta(ticket.request_id, params, text, lambda: not ticket.cancelled())


def build_server(settings: Settings) -> SdsatServer:
    """The server with its handlers registered; start it with `start_io()` or `start_tcp()`."""
    server = SdsatServer(settings)

    @server.feature(types.INITIALIZE)
    def initialize(ls: SdsatServer, params: types.InitializeParams) -> None:
        ls.loop = asyncio.get_running_loop()
        if ls.protocol.output is not None:
            ls.protocol.output.append_deltas = wants_append_deltas(params.capabilities)
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
        ls.edit_documents().open(item.uri, item.language_id, item.text, item.version)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: SdsatServer, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        logger.debug("didChange %s v%s", uri, params.text_document.version)
        ls.mark_stale(uri)
        changes = [to_text_change(change) for change in params.content_changes]
        ls.edit_documents().change(uri, params.text_document.version, changes)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: SdsatServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.mark_stale(uri)
        ls.edit_documents().close(uri)

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(
        ls: SdsatServer, params: types.InlineCompletionParams
    ) -> types.InlineCompletionList:
        return await ls.complete(params)

    @server.feature(STATUS_METHOD)
    def status(ls: SdsatServer, params: Any) -> dict[str, Any]:
        return ls.model.status.to_wire()

    @server.feature(HEALTH_METHOD)
    def health(ls: SdsatServer, params: Any) -> dict[str, Any]:
        return ls.health()

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: SdsatServer, params: Any) -> None:
        for ticket in ls.in_flight.values():
            ticket.client_cancelled.set()
        ls.model.shutdown()

    return server

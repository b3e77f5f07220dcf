"""A small LSP client session over pygls' client, for the demo and the LSP benchmark.

Starts the real `sdsat-lsp serve` as a subprocess over stdio, tracks one document's text and
version, sends incremental edits and inline-completion requests with our own integer ids, and
collects what the server streams back (`sdsat/completionDelta`, `sdsat/status`, latency lines).
It knows nothing of the server's internals: only the wire protocol in docs/protocol.md.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient

from sdsat_lsp.server.latency import parse_line

DELTA_METHOD = "sdsat/completionDelta"
STATUS_METHOD = "sdsat/status"


def server_command(*extra: str) -> list[str]:
    return [sys.executable, "-m", "sdsat_lsp", "serve", *extra]


@dataclass
class Completion:
    """One request as the client saw it. Times are `time.perf_counter()` seconds."""

    request_id: int
    sent: float
    deltas: list[str] = field(default_factory=list)
    first_delta: float | None = None
    answered: float | None = None
    text: str | None = None  # the response's insertText ("" for an empty list)
    error: str | None = None  # "cancelled", "content-modified" or another error's text
    done: asyncio.Event = field(default_factory=asyncio.Event)
    first: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def first_delta_ms(self) -> float | None:
        return None if self.first_delta is None else (self.first_delta - self.sent) * 1000.0

    @property
    def total_ms(self) -> float | None:
        return None if self.answered is None else (self.answered - self.sent) * 1000.0


class Session:
    """One server process and one document in it."""

    def __init__(
        self,
        options: dict[str, Any] | None = None,
        command: list[str] | None = None,
        on_delta: Callable[[Completion, str], None] | None = None,
        on_message: Callable[[str], None] | None = None,
    ) -> None:
        self.options = options or {}
        self.command = command or server_command()
        self.on_delta = on_delta
        self.on_message = on_message
        self.client = LanguageClient("sdsat-lsp-session", "0")
        self.completions: dict[int, Completion] = {}
        self.latency_records: list[dict[str, Any]] = []
        self.status: dict[str, Any] = {}
        self.status_changed = asyncio.Event()
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=40)
        self._ids = itertools.count(1)
        self._stderr_task: asyncio.Task[None] | None = None
        self._answers: set[asyncio.Future[None]] = set()
        self.uri = ""
        self.text = ""
        self.version = 0
        self._register()

    def _register(self) -> None:
        client = self.client

        @client.feature(DELTA_METHOD)
        def delta(params: Any) -> None:
            params = plain(params)
            completion = self.completions.get(params.get("id"))
            if completion is None or completion.done.is_set():
                return
            if completion.first_delta is None:
                completion.first_delta = time.perf_counter()
                completion.first.set()
            completion.deltas.append(params["text"])
            if self.on_delta is not None:
                self.on_delta(completion, params["text"])

        @client.feature(STATUS_METHOD)
        def status(params: Any) -> None:
            self.status = plain(params)
            self.status_changed.set()

        @client.feature(types.WINDOW_LOG_MESSAGE)
        def log_message(params: types.LogMessageParams) -> None:
            if (record := parse_line(params.message)) is not None:
                self.latency_records.append(record)

        @client.feature(types.WINDOW_SHOW_MESSAGE)
        def show_message(params: types.ShowMessageParams) -> None:
            if self.on_message is not None:
                self.on_message(params.message)

        @client.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)
        def create_progress(params: types.WorkDoneProgressCreateParams) -> None:
            return None

        @client.feature(types.PROGRESS)
        def progress(params: types.ProgressParams) -> None:
            message = getattr(params.value, "message", None)
            if message and self.on_message is not None:
                self.on_message(message)

    async def start(self) -> None:
        await self.client.start_io(*self.command)
        server = self.client._server
        if server is not None and server.stderr is not None:
            self._stderr_task = asyncio.create_task(self._drain(server.stderr))
        capabilities = types.ClientCapabilities(
            window=types.WindowClientCapabilities(work_done_progress=True)
        )
        await self.client.initialize_async(
            types.InitializeParams(
                capabilities=capabilities,
                process_id=None,
                initialization_options=self.options,
            )
        )
        self.client.initialized(types.InitializedParams())

    async def _drain(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.stderr_tail.append(line.decode("utf-8", errors="replace").rstrip())

    async def wait_until_loaded(self, timeout: float = 600.0) -> dict[str, Any]:
        """Wait for `sdsat/status` to leave `loading`; returns the status."""
        deadline = time.monotonic() + timeout
        while self.status.get("state") not in ("ready", "error"):
            self.status_changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the model did not load in time")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.status_changed.wait(), min(remaining, 1.0))
        return self.status

    def open(self, uri: str, text: str, language_id: str = "python") -> None:
        self.uri, self.text, self.version = uri, text, 1
        item = types.TextDocumentItem(uri=uri, language_id=language_id, version=1, text=text)
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=item))

    def end_position(self) -> types.Position:
        lines = self.text.split("\n")
        return types.Position(line=len(lines) - 1, character=utf16_len(lines[-1]))

    def type(self, text: str) -> None:
        """Insert `text` at the end of the document (one didChange)."""
        at = self.end_position()
        self.text += text
        self.version += 1
        change = types.TextDocumentContentChangePartial(
            range=types.Range(start=at, end=at), text=text
        )
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=self.uri, version=self.version
                ),
                content_changes=[change],
            )
        )

    def request(self, position: types.Position | None = None) -> Completion:
        """Send textDocument/inlineCompletion at `position` (default: end of document)."""
        request_id = next(self._ids)
        params = types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=self.uri),
            position=position or self.end_position(),
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Automatic
            ),
        )
        completion = Completion(request_id=request_id, sent=time.perf_counter())
        self.completions[request_id] = completion
        future = self.client.protocol.send_request_async(
            types.TEXT_DOCUMENT_INLINE_COMPLETION, params, msg_id=request_id
        )
        task = asyncio.ensure_future(self._answer(completion, future))
        self._answers.add(task)
        task.add_done_callback(self._answers.discard)
        return completion

    async def _answer(self, completion: Completion, future: Any) -> None:
        try:
            result = await future
        except Exception as error:  # the server answered with an error
            code = getattr(error, "code", 0)
            names = {-32800: "cancelled", -32801: "content-modified"}
            completion.error = names.get(code, f"{code}: {error}")
        else:
            items = result.items if isinstance(result, types.InlineCompletionList) else result
            text = items[0].insert_text if items else ""
            completion.text = text if isinstance(text, str) else text.value
        completion.answered = time.perf_counter()
        completion.first.set()
        completion.done.set()

    def cancel(self, completion: Completion) -> None:
        self.client.cancel_request(types.CancelParams(id=completion.request_id))

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.shutdown_async(None), 10)
            self.client.exit(None)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.stop(), 10)
        if self._stderr_task is not None:
            self._stderr_task.cancel()


def plain(value: Any) -> Any:
    """pygls hands custom messages' params over as nested namedtuples: back to dicts."""
    if hasattr(value, "_asdict"):
        return {key: plain(item) for key, item in value._asdict().items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2

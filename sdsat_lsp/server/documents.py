"""Document edits from the event loop, in order, without ever waiting on the engine's worker.

The worker holds `documents_lock` while it builds a prompt, which can take seconds the first
time a large document is parsed. The event loop must not wait for that: edits queue here and
are applied the moment the lock is free (the loop polls every few milliseconds). A large
`didOpen` builds its `Document` (UTF-8 copy, line table) on a thread, so a 5 MB document costs
the loop no more than a frame. Text the document model cannot hold (lone surrogates from a
client's JSON escapes) is repaired to U+FFFD, which keeps every UTF-16 position; a document
that cannot be opened at all is remembered, so completions on it say why.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sdsat_lsp.context import DocumentStore, TextChange
from sdsat_lsp.context.document import Document

logger = logging.getLogger(__name__)

LARGE_DOCUMENT_CHARS = 256 * 1024  # built on a thread from this size on
RETRY_SECONDS = 0.002
MAX_REMEMBERED = 1000
_SURROGATE = re.compile("[\ud800-\udfff]")


def repair_text(text: str) -> tuple[str, int]:
    """Text with lone surrogates replaced by U+FFFD (one UTF-16 unit each), and their count."""
    if text.isascii():
        return text, 0
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.subn("\ufffd", text)
    return text, 0


def build_document(uri: str, language_id: str, text: str, version: int) -> tuple[Document, str]:
    """The document and a note on what was repaired ("" when nothing was)."""
    text, repaired = repair_text(text)
    note = f"{repaired} lone surrogate(s) replaced by U+FFFD" if repaired else ""
    return Document.create(uri, language_id, text, version), note


@dataclass
class _Edit:
    apply: Callable[[], None]
    ready: asyncio.Future[None] | None = None  # a document being built on a thread


class DocumentEditor:
    def __init__(
        self,
        store: DocumentStore,
        lock: threading.Lock,
        report: Callable[[str, str], None],
    ) -> None:
        self.store = store
        self.lock = lock
        self._report = report  # (uri, problem): log and tell the user
        self._pending: collections.deque[_Edit] = collections.deque()
        self._retry: asyncio.TimerHandle | None = None
        self._settled = asyncio.Event()
        self._settled.set()
        self.unopenable: dict[str, str] = {}  # uri → why it could not be opened

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def settled(self) -> None:
        """Until every queued edit has been applied."""
        await self._settled.wait()

    def open(self, uri: str, language_id: str, text: str, version: int) -> None:
        if len(text) < LARGE_DOCUMENT_CHARS:
            build = functools.partial(build_document, uri, language_id, text, version)
            self._submit(_Edit(functools.partial(self._put, uri, build)))
            return
        loop = asyncio.get_running_loop()
        built = loop.run_in_executor(None, build_document, uri, language_id, text, version)
        ready: asyncio.Future[None] = loop.create_future()

        def done(future: asyncio.Future[tuple[Document, str]]) -> None:
            ready.set_result(None)
            self._drain()

        built.add_done_callback(done)
        self._submit(_Edit(lambda: self._put(uri, built.result), ready))

    def change(self, uri: str, version: int, changes: Sequence[TextChange]) -> None:
        def apply() -> None:
            if uri not in self.store:
                reason = self.unopenable.get(uri, "it was never opened")
                logger.warning("didChange for %s ignored: %s", uri, reason)
                return
            repaired = [TextChange(c.range, repair_text(c.text)[0]) for c in changes]
            try:
                self.store.change(uri, version, repaired)
            except Exception as error:  # a range past the end: the copy can no longer be trusted
                self.store.close(uri)
                self._remember(uri, f"an edit could not be applied ({error})")

        self._submit(_Edit(apply))

    def close(self, uri: str) -> None:
        def apply() -> None:
            self.store.close(uri)
            self.unopenable.pop(uri, None)

        self._submit(_Edit(apply))

    # -- internals ---------------------------------------------------------------------------

    def _put(self, uri: str, build: Callable[[], tuple[Document, str]]) -> None:
        try:
            document, note = build()
        except Exception as error:
            self.store.close(uri)
            self._remember(uri, f"{type(error).__name__}: {error}"[:300])
            return
        self.store.put(document)
        self.unopenable.pop(uri, None)
        if note:
            self._report(uri, note)

    def _remember(self, uri: str, reason: str) -> None:
        self.unopenable[uri] = reason
        while len(self.unopenable) > MAX_REMEMBERED:
            del self.unopenable[next(iter(self.unopenable))]
        self._report(uri, f"not opened: {reason}")

    def _submit(self, edit: _Edit) -> None:
        self._pending.append(edit)
        self._settled.clear()
        self._drain()

    def _drain(self) -> None:
        self._retry = None
        while self._pending:
            head = self._pending[0]
            if head.ready is not None and not head.ready.done():
                return  # its done callback drains again
            if not self.lock.acquire(blocking=False):
                if self._retry is None:
                    self._retry = asyncio.get_running_loop().call_later(RETRY_SECONDS, self._drain)
                return
            try:
                while self._pending and (
                    self._pending[0].ready is None or self._pending[0].ready.done()
                ):
                    edit = self._pending.popleft()
                    try:
                        edit.apply()
                    except Exception:
                        logger.exception("a document edit failed")
            finally:
                self.lock.release()
        self._settled.set()

"""The real `sdsat-lsp serve` process over stdio, driven by pytest-lsp's client.

Starting a server costs an import of torch and transformers (seconds on a small CPU), so the
test modules share one tiny-model server (session-scoped; mark modules with
`pytest.mark.asyncio(loop_scope="session")`) and keep their documents apart by URI.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from sdsat_lsp.server.client import plain
from sdsat_lsp.server.latency import parse_line

DELTA = "sdsat/completionDelta"
STATUS = "sdsat/status"


@dataclass
class Server:
    """A started, initialized server and what it sent us."""

    client: LanguageClient
    initialize_result: types.InitializeResult
    deltas: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)

    def records(self) -> list[dict[str, Any]]:
        found = (parse_line(message.message) for message in self.client.log_messages)
        return [record for record in found if record is not None]

    def record_for(self, request_id: int) -> dict[str, Any]:
        matches = [r for r in self.records() if r["request_id"] == request_id]
        assert len(matches) == 1, f"one latency record for request {request_id}: {matches}"
        return matches[0]

    def open(self, uri: str, text: str, language_id: str = "python") -> None:
        self.versions[uri] = 1
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id=language_id, version=1, text=text
                )
            )
        )

    def insert(self, uri: str, line: int, character: int, text: str) -> None:
        self.versions[uri] = self.versions.get(uri, 0) + 1
        at = types.Position(line=line, character=character)
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=uri, version=self.versions[uri]
                ),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(start=at, end=at), text=text
                    )
                ],
            )
        )

    def request(
        self,
        uri: str,
        line: int,
        character: int,
        request_id: int,
        trigger: types.InlineCompletionTriggerKind = types.InlineCompletionTriggerKind.Automatic,
    ) -> asyncio.Future[Any]:
        params = types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=character),
            context=types.InlineCompletionContext(trigger_kind=trigger),
        )
        # Sent now, in order with the notifications before it (pytest-lsp's
        # send_request_async only sends once awaited).
        sent = self.client.protocol.send_request(
            types.TEXT_DOCUMENT_INLINE_COMPLETION, params, msg_id=request_id
        )
        return asyncio.wrap_future(sent)

    def configure(self, settings: dict[str, Any]) -> None:
        self.client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"sdsat": settings})
        )

    async def status(self) -> dict[str, Any]:
        result = await asyncio.wait_for(self.client.protocol.send_request_async(STATUS), 30)
        return plain(result)

    async def wait_ready(self, timeout: float = 300) -> dict[str, Any]:
        async def ready() -> dict[str, Any]:
            while True:
                if self.statuses and self.statuses[-1]["state"] in ("ready", "error"):
                    return self.statuses[-1]
                await asyncio.sleep(0.05)

        return await asyncio.wait_for(ready(), timeout)


def serve_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "sdsat_lsp", "serve", *args]


async def start_server(
    args: list[str], options: dict[str, Any] | None = None, *, progress: bool = True
) -> Server:
    client = await ClientServerConfig(server_command=serve_command(*args)).start()
    assert isinstance(client, LanguageClient)
    deltas: list[dict[str, Any]] = []
    statuses: list[dict[str, Any]] = []
    client.feature(DELTA)(lambda params: deltas.append(plain(params)))
    client.feature(STATUS)(lambda params: statuses.append(plain(params)))
    capabilities = types.ClientCapabilities(
        window=types.WindowClientCapabilities(work_done_progress=progress)
    )
    result = await asyncio.wait_for(
        client.initialize_session(
            types.InitializeParams(capabilities=capabilities, initialization_options=options)
        ),
        120,
    )
    return Server(client, result, deltas, statuses)


async def stop_server(server: Server) -> None:
    await asyncio.wait_for(server.client.shutdown_session(), 60)
    await server.client.stop()


ServerFactory = Callable[..., Coroutine[Any, Any, Server]]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def tiny_server(tiny_model_dir: Path) -> AsyncIterator[Server]:
    """A server on the tiny model, ready."""
    server = await start_server(["--model", str(tiny_model_dir), "--max-new-tokens", "24"])
    status = await server.wait_ready()
    assert status["state"] == "ready", status
    yield server
    await stop_server(server)


@pytest.fixture(scope="session")
def missing_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("no-model") / "does-not-exist"

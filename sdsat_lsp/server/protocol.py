"""pygls protocol adjustments: answer malformed requests, keep one copy of each document.

pygls 2.1.1 structures each incoming message inside its reader loop; when a request's params do
not match the method's schema it raises there, logs, shows the user an error and never answers,
so the client waits forever. `SdsatProtocol` answers such requests with JSON-RPC InvalidParams
(-32602) and drops malformed notifications with a log line.

pygls also keeps its own copy of every open document (its `Workspace`); the server keeps the
context package's `DocumentStore` instead, so the document-sync builtins here only call the
server's handlers. Positions are always UTF-16 (the LSP default), which is what the document
store counts in.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from concurrent.futures import Future
from typing import Any

import cattrs
from lsprotocol import types
from pygls.exceptions import JsonRpcContentModified, JsonRpcException, JsonRpcInvalidParams
from pygls.protocol import LanguageServerProtocol, lsp_method

logger = logging.getLogger(__name__)


class RejectedMessage:
    """Stands in for a message that could not be structured; `handle_message` ignores it."""

    jsonrpc = "rejected"


def describe_structure_error(error: BaseException) -> str:
    cause = error.__cause__ or error
    if isinstance(cause, cattrs.BaseValidationError):
        return "; ".join(cattrs.transform_error(cause))[:500]
    return f"{type(cause).__name__}: {cause}"[:500]


class SdsatProtocol(LanguageServerProtocol):
    def structure_message(self, data: dict[str, Any]) -> Any:
        if "method" in data and "params" not in data:
            # JSON-RPC lets a request without parameters leave `params` out (vscode-jsonrpc's
            # `sendRequest("sdsat/status")` does); pygls' generic message type requires it.
            data = {**data, "params": None}
        try:
            return super().structure_message(data)
        except JsonRpcException as error:
            method = data.get("method")
            detail = describe_structure_error(error)
            if "id" in data and method is not None and isinstance(data["id"], int | str):
                logger.warning("invalid params for %s (id %r): %s", method, data["id"], detail)
                response = JsonRpcInvalidParams(
                    f"invalid params for {method}: {detail}"
                ).to_response_error()
                self._send_response(data["id"], error=response)
            else:
                logger.warning("dropped a malformed message (%s): %s", method, detail)
            return RejectedMessage()

    def handle_message(self, message: Any) -> None:
        if isinstance(message, RejectedMessage):
            return
        super().handle_message(message)

    def _send_handler_result(self, future: Future[Any], *, msg_id: Any) -> None:
        # ContentModified is an expected answer, not a server error: no traceback in the log.
        if not future.cancelled() and isinstance(future.exception(), JsonRpcContentModified):
            self._request_futures.pop(msg_id, None)
            error = future.exception()
            assert isinstance(error, JsonRpcContentModified)
            self._send_response(msg_id, error=error.to_response_error())
            return
        super()._send_handler_result(future, msg_id=msg_id)

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(
        self, params: types.InitializeParams
    ) -> Generator[Any, Any, types.InitializeResult]:
        # Positions are UTF-16 code units whatever the client offers (pygls would pick UTF-8
        # when the client lists it first; the document store counts UTF-16).
        result = yield from super().lsp_initialize(params)
        result.capabilities.position_encoding = types.PositionEncodingKind.Utf16
        return result

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(
        self, params: types.DidOpenTextDocumentParams
    ) -> Generator[Any, Any, None]:
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_OPEN)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(
        self, params: types.DidChangeTextDocumentParams
    ) -> Generator[Any, Any, None]:
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(
        self, params: types.DidCloseTextDocumentParams
    ) -> Generator[Any, Any, None]:
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CLOSE)) is not None:
            yield handler, (params,), None

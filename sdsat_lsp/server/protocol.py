"""pygls protocol adjustments: the lifecycle, answers to malformed requests, no per-message state,
output through `transport.Output`, one copy of each document.

Messages arrive already framed, decoded and checked (`transport.read_frames`) and go through
`dispatch`, which enforces the LSP lifecycle before pygls sees them: a request before
`initialize` answers ServerNotInitialized (-32002), a second `initialize` and any request after
`shutdown` answer InvalidRequest (-32600), notifications then are dropped, and `exit` ends the
connection with 0 after `shutdown`, else 1. pygls 2.1.1 stores a future for every notification
handled by a generator handler (didOpen/didChange/didClose) and never removes it; here a
handler's future is forgotten as soon as it is done.

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

import json
import logging
from collections.abc import Callable, Generator
from concurrent.futures import Future
from typing import Any

import cattrs
from lsprotocol import types
from pygls.exceptions import JsonRpcContentModified, JsonRpcException, JsonRpcInvalidParams
from pygls.protocol import LanguageServerProtocol, lsp_method

from sdsat_lsp.server.transport import INVALID_REQUEST, Output, RpcError

logger = logging.getLogger(__name__)

SERVER_NOT_INITIALIZED = -32002
# Notifications the client can do without when it stops reading (see Output).
OPTIONAL_NOTIFICATIONS = frozenset({types.WINDOW_LOG_MESSAGE, types.PROGRESS, "sdsat/status"})


class RejectedMessage:
    """Stands in for a message that could not be structured; `handle_message` ignores it."""

    jsonrpc = "rejected"


def describe_structure_error(error: BaseException) -> str:
    cause = error.__cause__ or error
    if isinstance(cause, cattrs.BaseValidationError):
        return "; ".join(cattrs.transform_error(cause))[:500]
    return f"{type(cause).__name__}: {cause}"[:500]


class SdsatProtocol(LanguageServerProtocol):
    output: Output | None = None
    # new → running (initialize received) → shut down (shutdown received)
    lifecycle = "new"
    on_exit: Callable[[int], None] | None = None
    # Raw didOpen params are looked at before structuring (see `repair_did_open`).
    on_raw_message: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    on_rejected: Callable[[dict[str, Any], str], None] | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def dispatch(self, data: dict[str, Any]) -> None:
        """Handle one checked message (on the event loop)."""
        method = data.get("method")
        is_request = "id" in data
        if method == types.EXIT:
            if self.on_exit is not None:
                self.on_exit(0 if self.lifecycle == "shut down" else 1)
            return
        if method is not None:
            refusal = self.refusal(method)
            if refusal is not None:
                if is_request:
                    self.send_error(RpcError(refusal[0], refusal[1], data["id"]))
                else:
                    logger.info("dropped %s: %s", method, refusal[1])
                return
            if method == types.INITIALIZE:
                self.lifecycle = "running"
            elif method == types.SHUTDOWN and is_request:
                self.lifecycle = "shut down"
            if self.on_raw_message is not None:
                data = self.on_raw_message(data)
        self.handle_message(self.structure_message(data))

    def refusal(self, method: str) -> tuple[int, str] | None:
        if self.lifecycle == "new" and method != types.INITIALIZE:
            return SERVER_NOT_INITIALIZED, "the server has not been initialized"
        if self.lifecycle != "new" and method == types.INITIALIZE:
            return INVALID_REQUEST, "initialize was already received"
        if self.lifecycle == "shut down":
            return INVALID_REQUEST, "the server is shut down; only exit is accepted"
        return None

    # -- output --------------------------------------------------------------------------------

    def send_error(self, error: RpcError) -> None:
        if self.output is not None:
            self.output.put(json.dumps(error.to_wire()), response_to=error.request_id)

    def _send_data(self, data: Any) -> None:
        if self.output is None:
            super()._send_data(data)
            return
        try:
            body = json.dumps(data, default=self._serialize_message)
        except Exception as error:
            logger.exception("could not serialize a message")
            self._server._report_server_error(error, JsonRpcException)
            return
        method = getattr(data, "method", None)
        response_to = getattr(data, "id", None) if method is None else None
        self.output.put(body, response_to=response_to, droppable=method in OPTIONAL_NOTIFICATIONS)

    # -- no state kept per message ----------------------------------------------------------------

    def _execute_handler(
        self,
        msg_id: Any,
        handler: Any,
        callback: Any,
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        def done(future: Future[Any]) -> None:
            if self._request_futures.get(msg_id) is future:
                del self._request_futures[msg_id]
            callback(future)

        super()._execute_handler(msg_id, handler, done, args, kwargs)

    # -- malformed params ------------------------------------------------------------------------

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
                if self.on_rejected is not None:
                    self.on_rejected(data, detail)
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

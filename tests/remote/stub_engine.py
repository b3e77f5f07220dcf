"""A scripted OpenAI-compatible HTTP server: ONLY for the failures a real engine cannot be made
to produce on demand (401/403, 404 model, 429/503 with Retry-After, a stalled stream, malformed
SSE, an engine that ignores `stop`). Everything else is tested against llama.cpp's server.

`StubEngine.mode` picks the answer to the next `POST /v1/completions`; `requests` keeps each
request (body and headers) and `disconnects` counts streams whose client went away while the
stub was still writing (the proof that the client closed the HTTP stream).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Mode:
    kind: str = "ok"  # ok | status | stall | malformed | endless
    tokens: tuple[str, ...] = ("return", " x", " +", " 1", "\n")
    status: int = 200
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    token_delay_s: float = 0.0


class StubEngine:
    def __init__(self, model: str = "stub-model") -> None:
        self.model = model
        self.mode = Mode()
        self.requests: list[dict[str, Any]] = []
        self.disconnects = 0
        self.chunks_sent = 0
        self.release = threading.Event()  # ends a stall
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # the stream ends when the connection closes

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/") != "/v1/models":
                    self.send_json(404, {"error": {"message": "no such path"}})
                    return
                self.send_json(200, {"object": "list", "data": [{"id": stub.model}]})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                stub.requests.append({"body": body, "headers": dict(self.headers)})
                mode = stub.mode
                if mode.kind == "status":
                    self.send_json(mode.status, mode.body, mode.headers)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                try:
                    self.stream(mode)
                except (BrokenPipeError, ConnectionResetError):
                    stub.disconnects += 1

            def stream(self, mode: Mode) -> None:
                if mode.kind == "malformed":
                    self.event({"choices": [{"text": "ok", "finish_reason": None}]})
                    self.wfile.write(b"data: {this is not json\n\n")
                    self.wfile.flush()
                    return
                if mode.kind == "stall":
                    self.event({"choices": [{"text": "x", "finish_reason": None}]})
                    stub.release.wait(30)
                    return
                tokens = mode.tokens
                if mode.kind == "endless":  # ignores `stop` and `max_tokens`
                    tokens = tuple(f"line{i}\n" for i in range(2000))
                for token in tokens:
                    self.event({"choices": [{"text": token, "finish_reason": None}]})
                    if mode.token_delay_s:
                        time.sleep(mode.token_delay_s)
                self.event({"choices": [{"text": "", "finish_reason": "stop"}]})
                usage = {"prompt_tokens": 7, "completion_tokens": len(tokens)}
                self.event({"choices": [], "usage": usage})
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

            def event(self, payload: dict[str, Any]) -> None:
                self.wfile.write(b": keep-alive comment\n")
                self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
                self.wfile.flush()
                stub.chunks_sent += 1

            def send_json(
                self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
            ) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> StubEngine:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

"""A stdlib JSON-RPC client for `sdsat-lsp serve` that sends exactly the bytes it is given.

The fault suite (tests/reliability) and `sdsat-lsp bench soak` use it to play a hostile or
careless client: bad frames, malformed messages, lifecycle abuse, a client that stops reading
or dies. Its own reader is the plain LSP framing (independent of the server's), on a thread.
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from typing import IO, Any

HEALTH = "sdsat/health"


def serve_command(*extra: str) -> list[str]:
    return [sys.executable, "-m", "sdsat_lsp", "serve", *extra]


def frame(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def encode(message: dict[str, Any]) -> bytes:
    return frame(json.dumps(message).encode("utf-8"))


class RawClient:
    def __init__(
        self,
        command: list[str],
        *,
        env: dict[str, str] | None = None,
        stdout: int | IO[bytes] | None = None,
    ) -> None:
        """Start the server. `stdout` redirects the server's output elsewhere (then this
        client reads from `self.read_from`, which the caller sets)."""
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE if stdout is None else stdout,
            stderr=subprocess.PIPE,
            env=env,
        )
        self.responses: dict[Any, dict[str, Any]] = {}
        self.notifications: collections.deque[dict[str, Any]] = collections.deque(maxlen=50_000)
        self.unsolicited: list[dict[str, Any]] = []  # responses nobody waits for (id null)
        self.stderr: collections.deque[str] = collections.deque(maxlen=400)
        self._condition = threading.Condition()
        self._ids = itertools.count(1_000_000)
        self._lock = threading.Lock()
        self.eof = False
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        if self.process.stdout is not None:
            self.read_from(self.process.stdout)

    # -- sending ---------------------------------------------------------------------------------

    def send_bytes(self, data: bytes) -> None:
        assert self.process.stdin is not None
        with self._lock:
            self.process.stdin.write(data)
            self.process.stdin.flush()

    def send(self, message: dict[str, Any]) -> None:
        self.send_bytes(encode({"jsonrpc": "2.0", **message}))

    def notify(self, method: str, params: Any = None) -> None:
        self.send({"method": method, "params": params})

    def request(self, method: str, params: Any = None, request_id: Any = None) -> Any:
        request_id = next(self._ids) if request_id is None else request_id
        self.send({"id": request_id, "method": method, "params": params})
        return request_id

    def call(self, method: str, params: Any = None, timeout: float = 30.0) -> dict[str, Any]:
        return self.wait(self.request(method, params), timeout)

    def wait(self, request_id: Any, timeout: float = 30.0) -> dict[str, Any]:
        """The response to `request_id` (result or error); raises TimeoutError."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while request_id not in self.responses:
                left = deadline - time.monotonic()
                if left <= 0 or self.eof:
                    raise TimeoutError(f"no answer to {request_id!r} (stderr: {self.tail()})")
                self._condition.wait(min(left, 0.5))
            return self.responses.pop(request_id)

    def wait_for(self, predicate: Any, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        with self._condition:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"condition not met (stderr: {self.tail()})")
                self._condition.wait(min(left, 0.5))

    # -- LSP conveniences ------------------------------------------------------------------------

    def initialize(
        self, options: dict[str, Any] | None = None, capabilities: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        answer = self.call(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": None,
                "capabilities": capabilities or {},
                "initializationOptions": options,
            },
            timeout=120,
        )
        self.notify("initialized", {})
        return answer

    def wait_ready(self, timeout: float = 300.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.call("sdsat/status", timeout=timeout)["result"]
            if status["state"] in ("ready", "error"):
                return status
            time.sleep(0.1)
        raise TimeoutError("model not loaded")

    def health(self, timeout: float = 30.0) -> dict[str, Any]:
        """The server's health report; raises when it does not answer (a deaf server)."""
        answer = self.call(HEALTH, timeout=timeout)
        assert "result" in answer, answer
        return answer["result"]

    def open(self, uri: str, text: str, version: int = 1, language_id: Any = "python") -> None:
        document = {"uri": uri, "languageId": language_id, "version": version, "text": text}
        self.notify("textDocument/didOpen", {"textDocument": document})

    def insert(self, uri: str, version: int, line: int, character: int, text: str) -> None:
        self.replace(uri, version, (line, character), (line, character), text)

    def replace(
        self, uri: str, version: int, start: tuple[int, int], end: tuple[int, int], text: str
    ) -> None:
        span = {
            "start": {"line": start[0], "character": start[1]},
            "end": {"line": end[0], "character": end[1]},
        }
        self.notify(
            "textDocument/didChange",
            {
                "textDocument": {"uri": uri, "version": version},
                "contentChanges": [{"range": span, "text": text}],
            },
        )

    def complete(self, uri: str, line: int, character: int, request_id: Any = None) -> Any:
        params = {
            "textDocument": {"uri": uri},
            "position": {"line": line, "character": character},
            "context": {"triggerKind": 2},
        }
        return self.request("textDocument/inlineCompletion", params, request_id)

    def shutdown_and_exit(self, timeout: float = 10.0) -> int:
        self.call("shutdown", timeout=timeout)
        self.notify("exit")
        return self.process.wait(timeout)

    def messages(self, method: str) -> list[dict[str, Any]]:
        with self._condition:
            return [n for n in self.notifications if n.get("method") == method]

    def rss_bytes(self) -> int:
        with open(f"/proc/{self.process.pid}/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def tail(self, lines: int = 15) -> str:
        return "\n".join(list(self.stderr)[-lines:])

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)

    # -- reading ---------------------------------------------------------------------------------

    def read_from(self, stream: IO[bytes]) -> None:
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[bytes]) -> None:
        try:
            while True:
                length = None
                while True:
                    line = stream.readline()
                    if not line:
                        return
                    if line in (b"\r\n", b"\n"):
                        break
                    name, _, value = line.decode("ascii").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                if length is None:
                    continue
                message = json.loads(stream.read(length))
                with self._condition:
                    if "method" in message:
                        self.notifications.append(message)
                    elif message.get("id") is None:
                        self.unsolicited.append(message)
                    else:
                        self.responses[message["id"]] = message
                    self._condition.notify_all()
        finally:
            with self._condition:
                self.eof = True
                self._condition.notify_all()

    def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line.decode("utf-8", "replace").rstrip())

"""A scripted LSP server for the plugin's delta handling: no model, exact deltas, no timing luck.

    python scripted_server.py CAPABILITIES_FILE

Writes the client's `capabilities.experimental` to CAPABILITIES_FILE, then answers each
`textDocument/inlineCompletion` with the deltas of the script named by the word at the end of
the request's line, then the response (the script's last text). Append-form offsets come from
the real server's own functions (sdsat_lsp.server.transport), so the plugin is tested against
the offsets the server sends.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from sdsat_lsp.server.transport import common_prefix, utf16_units

# name: texts so far, in order; the last one is also the response's insertText.
SCRIPTS: dict[str, list[str]] = {
    # Multibyte text (2 bytes/1 unit, 4 bytes/2 units) and a tail the server rewrites.
    "unicode": ['x = "é', 'x = "é😀', 'x = "é😀" + 1', 'x = "é😀" + 2', 'x = "é😀" + 2\n'],
}
# name: (offset, text) deltas sent as they are (offset None: the whole-text form), response.
RAW: dict[str, tuple[list[tuple[int | None, str]], str]] = {
    # A delta is missing between "ab" and offset 5: nothing is known until offset 0 again.
    "gap": ([(0, "ab"), (5, "zz"), (2, "c"), (0, "abcd"), (4, "e")], "abcdef"),
    "whole": ([(None, "a"), (None, "ab"), (None, "abc")], "abc"),
}


def append_deltas(texts: list[str]) -> list[tuple[int | None, str]]:
    deltas: list[tuple[int | None, str]] = []
    before = ""
    for text in texts:
        keep = common_prefix(before, text)
        deltas.append((utf16_units(text[:keep]), text[keep:]))
        before = text
    return deltas


def send(message: dict[str, Any]) -> None:
    body = json.dumps({"jsonrpc": "2.0", **message}).encode()
    sys.stdout.buffer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    sys.stdout.buffer.flush()


def receive() -> dict[str, Any] | None:
    length = 0
    while line := sys.stdin.buffer.readline():
        if line in (b"\r\n", b"\n"):
            return json.loads(sys.stdin.buffer.read(length)) if length else None
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    raise EOFError


def complete(request: dict[str, Any], documents: dict[str, tuple[int, list[str]]]) -> None:
    params = request["params"]
    uri, position = params["textDocument"]["uri"], params["position"]
    version, lines = documents[uri]
    words = lines[position["line"]].split()
    name = words[-1] if words else ""
    if name in SCRIPTS:
        deltas, final = append_deltas(SCRIPTS[name]), SCRIPTS[name][-1]
    else:
        deltas, final = RAW.get(name, ([], ""))
    for offset, text in deltas:
        delta = {"id": request["id"], "uri": uri, "version": version, "position": position}
        delta.update({"text": text} if offset is None else {"offset": offset, "text": text})
        send({"method": "sdsat/completionDelta", "params": delta})
        time.sleep(0.05)  # one draw per delta
    items = [{"insertText": final}] if final else []
    send({"id": request["id"], "result": {"items": items}})


def main() -> None:
    capabilities_file = sys.argv[1]
    documents: dict[str, tuple[int, list[str]]] = {}
    while True:
        message = receive()
        if message is None:
            continue
        method, params = message.get("method"), message.get("params") or {}
        if method == "initialize":
            with open(capabilities_file, "w") as out:
                json.dump(params["capabilities"].get("experimental"), out)
            result = {"capabilities": {"textDocumentSync": 1, "inlineCompletionProvider": {}}}
            send({"id": message["id"], "result": result})
        elif method in ("textDocument/didOpen", "textDocument/didChange"):
            document = params["textDocument"]
            text = document["text"] if "text" in document else params["contentChanges"][-1]["text"]
            documents[document["uri"]] = (document["version"], text.split("\n"))
        elif method == "textDocument/inlineCompletion":
            complete(message, documents)
        elif method == "shutdown":
            send({"id": message["id"], "result": None})
        elif method == "exit":
            return
        elif "id" in message and method is not None:
            send({"id": message["id"], "error": {"code": -32601, "message": method}})


if __name__ == "__main__":
    main()
